"""Time a fixed engine: a snapshot of one commit, not files another engineer is editing."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def use_engine(which: str) -> str:
    """Point every child process at the engine to time; return a description for RESULTS.md."""
    if which == "worktree":
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "airflow_provider_typecheck"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return "working tree" + (" (with uncommitted changes)" if dirty else "")
    sha = subprocess.run(["git", "rev-parse", "--short", which], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    target = HERE / "data" / f"engine-{sha}"
    if not (target / "airflow_provider_typecheck").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "airflow_provider_typecheck"], cwd=REPO,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        # As `make env` does for the installed package: with PYTHONDONTWRITEBYTECODE set,
        # every CLI run would otherwise compile the engine from source.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True)
        _build_extensions(target)
    # PYTHONPATH comes before the editable install's .pth entry, so the snapshot wins
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    return f"commit {sha} (snapshot in {target.relative_to(REPO)})"


def _build_extensions(target: Path) -> None:
    """Compile the snapshot's C extensions in place, as the package build does (same flags)."""
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    include = sysconfig.get_paths()["include"]
    for source in target.rglob("*.c"):
        output = source.with_name(source.stem + sysconfig.get_config_var("EXT_SUFFIX"))
        subprocess.run([*compiler, "-O3", "-pthread", "-shared", "-fPIC", f"-I{include}", str(source),
                        "-o", str(output)], check=True)
