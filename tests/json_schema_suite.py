"""Where the official JSON-Schema-Test-Suite is: beside the repository, or where ``TYPECHECK_JSON_SCHEMA_TEST_SUITE`` says.

The suite is not vendored: it lives in ``../shared/json-schema-test-suite`` next to the
checkout (its ``tests/`` folder holds one folder per draft). In a git worktree the
checkout is elsewhere, so the main checkout's neighbour is looked at too. Nothing here
skips: the conformance tests fail, saying where they looked, when the suite is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "TYPECHECK_JSON_SCHEMA_TEST_SUITE"
BESIDE_THE_CHECKOUT = Path("..", "shared", "json-schema-test-suite")


def checkout_roots(start: Path) -> list[Path]:
    """The checkout holding ``start`` and, when it is a git worktree, the main checkout."""
    root = next((p for p in (start, *start.parents) if (p / "pyproject.toml").is_file()), None)
    if root is None:
        return []
    roots = [root]
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        text = git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            worktree_git = Path(text.removeprefix("gitdir:").strip())
            if worktree_git.parent.name == "worktrees":
                roots.append(worktree_git.parent.parent.parent)
    return roots


def candidates(start: Path, environ: dict[str, str] | os._Environ[str] = os.environ) -> list[Path]:
    """Where the suite may be, in the order looked at."""
    if environ.get(ENV):
        return [Path(environ[ENV])]
    return [(root / BESIDE_THE_CHECKOUT).resolve() for root in checkout_roots(start)]


def suite_root(start: Path | None = None) -> Path:
    """The suite's folder (the first candidate that holds ``tests/``, else the first candidate)."""
    places = candidates((start or Path(__file__)).resolve())
    found = next((place for place in places if (place / "tests").is_dir()), None)
    return found or (places[0] if places else BESIDE_THE_CHECKOUT)
