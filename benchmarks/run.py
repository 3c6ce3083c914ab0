"""The speed-issue benchmark: every approach on the same files, in one run.

    python benchmarks/run.py                     # 1M users rows, 3 repeats, everything
    python benchmarks/run.py --rows 100000 --skip-big
    python benchmarks/run.py --only read,ours,ours_cli --datasets users
    python benchmarks/run.py --skip-big --datasets users,users_quoted,users_crlf,users_ragged,users_draft04,\
        users_allof,users_ref,users_nullable --only read,read_cli,ours,ours_cli,base_cli --baseline main

The ``users_*`` variants (variants.py) are the users file in other shapes: quoted,
CRLF, one ragged row; its schema as draft-04, in a root ``allOf``, behind ``$ref``s,
with nullable types. ``--baseline COMMIT`` times that commit's CLI (``base_cli``)
in the same rounds as ours: before and after, side by side.

Each timed run is its own subprocess (so peak RSS is per approach, from
``os.wait4``).  Repeats go round-robin over approaches, so machine noise hits
them alike; the table gives medians, min-max spread and the ratio to the
all-strings read of the same file measured in the same run.  In-process
approaches time only their work (imports excluded); ``*_cli`` approaches are
timed end to end as a user runs them, interpreter start-up included, and are
compared with ``read_cli`` (``python -c "import polars; read"``).

Slow baselines validate a sample of rows and are extrapolated
(read time + per-row validation time x all rows); the table says so.

Writes benchmarks/RESULTS.md and benchmarks/results.png; exits 1 when an
approach that claims exact JSON Schema semantics disagrees with ours on the
set of invalid rows, or with the generator's defect list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from engine_snapshot import use_engine  # noqa: E402

# The users file in shapes that mean the same to a reader (see variants.py): each is timed
# against a plain read of its own file, by the read and ours approaches.
VARIANTS = tuple(f"users_{name}" for name in ("quoted", "crlf", "ragged", "draft04", "allof", "ref", "nullable"))
DATASETS = ("users", "wide", "users_xlsx", *VARIANTS)
CSV = ("users", "wide")
OURS_AND_READ = ("users", "wide", "users_xlsx", *VARIANTS)


@dataclass(frozen=True)
class Approach:
    name: str
    label: str
    kind: str  # "inproc" (worker times its own work) or "cli" (wall time of the command)
    datasets: tuple[str, ...] = DATASETS
    exact: bool = False  # claims exact JSON Schema semantics: must agree with ours
    sample: str | None = None  # "seed" or "slow": which --*-sample applies
    ours: bool = False


APPROACHES = [
    Approach("read", "all-strings read (polars / fastexcel)", "inproc", OURS_AND_READ),
    Approach("read_cli", "all-strings read, python -c (CLI baseline)", "cli", OURS_AND_READ),
    Approach("ours", "typecheck validate_file (in-process)", "inproc", OURS_AND_READ, ours=True),
    Approach("ours_cli", "typecheck validate (CLI)", "cli", OURS_AND_READ, ours=True),
    # The same CLI on the engine of --baseline COMMIT: before and after, in one run.
    Approach("base_cli", "typecheck validate (CLI), --baseline engine", "cli", OURS_AND_READ, ours=True),
    Approach("seed_literal", "seed: jsonschema.validate per row, threads", "inproc", CSV, exact=True, sample="seed"),
    Approach("python_jsonschema", "python-jsonschema, reused validator", "inproc", CSV, exact=True, sample="slow"),
    Approach("jsonschema_rs", "jsonschema-rs per row", "inproc", CSV, exact=True),
    Approach("fastjsonschema", "fastjsonschema per row", "inproc", CSV, exact=True),
    Approach("pandera_polars", "pandera polars (cast, then checks)", "inproc", CSV),
    Approach("frictionless", "frictionless (Table Schema)", "inproc", CSV, sample="slow"),
]
WORKER_NAME = {"read": "polars_read"}


@dataclass
class Run:
    seconds: float
    rss_mb: float
    rows_timed: int
    total_rows: int
    extrapolated: bool
    invalid_rows: list[int] | None = None


@dataclass
class Cell:
    runs: list[Run] = field(default_factory=list)
    skipped: str = ""

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)


# --------------------------------------------------------------------------- processes


GNU_TIME = Path("/usr/bin/time")


def run_process(
    cmd: list[str], *, timeout: float | None = None, env: dict[str, str] | None = None,
) -> tuple[float, float, int, str, str]:
    """Run ``cmd``; return (wall seconds, peak RSS MB of that process, exit code, stdout, stderr).

    Peak RSS comes from GNU time when it exists: Linux keeps ru_maxrss across
    exec, so a child forked straight from this (bigger) process would report
    at least our own RSS.  GNU time is a tiny process, so its child starts clean.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        if GNU_TIME.exists():
            cmd = [str(GNU_TIME), "-f", "%M", "-o", rss_file.name, *cmd]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env=env)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        rss_kb = usage.ru_maxrss
        if GNU_TIME.exists():
            text = rss_file.read().strip().splitlines()
            rss_kb = int(text[-1]) if text and text[-1].isdigit() else rss_kb
        return wall, rss_kb / 1024, p.returncode, out.read().decode(), err.read().decode()


def worker_cmd(worker: str, path: Path, schema_path: Path, sample: int | None, result: Path) -> list[str]:
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", worker, "--path", str(path),
           "--schema-path", str(schema_path), "--result", str(result)]
    if sample:
        cmd += ["--sample", str(sample)]
    return cmd


def cli_cmd(approach: str, path: Path, schema_path: Path) -> list[str]:
    if approach in ("ours_cli", "base_cli"):
        return [str(Path(sys.executable).parent / "typecheck"), "validate", str(path), "--schema",
                str(schema_path), "--format", "json", "--max-errors", "1000"]
    if path.suffix == ".xlsx":
        code = f"import fastexcel; fastexcel.read_excel({str(path)!r}).load_sheet(0, dtypes='string').to_polars()"
    else:
        code = f"import polars as pl; pl.read_csv({str(path)!r}, infer_schema=False)"
    return [sys.executable, "-P", "-c", code]


def engine_status() -> tuple[str, str]:
    """Why ours (in-process, CLI) cannot run, or "" when it can."""
    _, _, rc, _, err = run_process([sys.executable, "-P", "-c", "from airflow_provider_typecheck.validation import validate_file"])
    inproc = "" if rc == 0 else "engine not importable: " + (err.strip().splitlines() or ["?"])[-1]
    exe = Path(sys.executable).parent / "typecheck"
    if not exe.exists():
        return inproc, "no typecheck console script (uv sync?)"
    _, _, rc, _, err = run_process([str(exe), "validate", "--help"])
    cli = "" if rc == 0 else "typecheck validate --help failed: " + (err.strip().splitlines() or ["?"])[-1]
    return inproc, cli


BASELINE_ENV: dict[str, str] = {}  # the environment of base_cli: PYTHONPATH names the --baseline snapshot
OURS_INVALID: dict[str, int] = {}  # per dataset, the invalid rows ours_cli found


def measure(a: Approach, dataset: str, path: Path, schema_path: Path, sample: int | None) -> Run:
    if a.kind == "cli":
        env = BASELINE_ENV if a.name == "base_cli" else None
        wall, rss, rc, out, err = run_process(cli_cmd(a.name, path, schema_path), env=env)
        if a.name in ("ours_cli", "base_cli"):
            if rc not in (0, 1):
                raise RuntimeError(f"typecheck exited {rc}: {err.strip()[-500:]}")
            report = json.loads(out)
            total = report["total_rows"]
            if OURS_INVALID.setdefault(dataset, report["invalid_rows"]) != report["invalid_rows"]:
                raise RuntimeError(f"{a.name} finds {report['invalid_rows']} invalid rows, the other CLI "
                                   f"{OURS_INVALID[dataset]}")
        else:
            if rc:
                raise RuntimeError(err.strip()[-500:])
            total = -1
        return Run(wall, rss, total, total, False)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        _, rss, rc, _, err = run_process(worker_cmd(WORKER_NAME.get(a.name, a.name), path, schema_path, sample, result))
        if rc:
            raise RuntimeError(err.strip()[-800:])
        r = json.loads(result.read_text())
    extrapolated = r["rows_validated"] < r["total_rows"]
    per_row = r["validate_seconds"] / max(r["rows_validated"], 1)
    seconds = r["read_seconds"] + (per_row * r["total_rows"] if extrapolated else r["validate_seconds"])
    return Run(seconds, rss, r["rows_validated"], r["total_rows"], extrapolated, r["invalid_rows"])


def worker_main(args: argparse.Namespace) -> int:
    import polars  # noqa: F401  (imported before any clock starts)

    from approaches import APPROACHES as FUNCS, Job

    if args.path.endswith(".xlsx"):
        import fastexcel  # noqa: F401

    job = Job(Path(args.path), json.loads(Path(args.schema_path).read_text()), args.sample)
    t = FUNCS[args.worker](job)
    Path(args.result).write_text(json.dumps(t.__dict__))
    return 0


# --------------------------------------------------------------------------- report


def fmt_rate(rows: int, seconds: float) -> str:
    r = rows / seconds
    return f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.1f} k" if r >= 1e3 else f"{r:.0f}"


def paired_ratio(num: Cell | None, den: Cell | None) -> float | None:
    """Median over repeats of num/den, each pair from the same round of the run.

    The machine's load drifts over minutes; runs of one round are seconds
    apart, so the per-round ratio cancels most of the drift that a ratio of
    two medians would keep.
    """
    if not num or not den or not num.runs or not den.runs:
        return None
    pairs = [a.seconds / b.seconds for a, b in zip(num.runs, den.runs) if b.seconds > 0]
    return statistics.median(pairs) if pairs else None


def table(results: dict, dataset: str, total_rows: int) -> list[list[str]]:
    rows = []
    for a in APPROACHES:
        cell = results[dataset].get(a.name)
        if cell is None:
            continue
        if not cell.runs:
            rows.append([a.name, "-", "-", "-", "-", "-", "-", f"skipped: {cell.skipped}"])
            continue
        secs = [r.seconds for r in cell.runs]
        med = statistics.median(secs)
        r = paired_ratio(cell, results[dataset].get("read_cli" if a.kind == "cli" else "read"))
        ratio = f"{r:.2f}x" if r is not None else "-"
        note = []
        if cell.runs[0].extrapolated:
            note.append(f"timed on {cell.runs[0].rows_timed:,} rows, extrapolated")
        if a.kind == "cli":
            note.append("end to end incl. interpreter start; ratio vs read_cli")
        rows.append([
            a.name, f"{cell.runs[0].rows_timed if cell.runs[0].rows_timed >= 0 else total_rows:,}", fmt_rate(total_rows, med), f"{med:.3f}",
            f"{min(secs):.3f}-{max(secs):.3f}", f"{max(r.rss_mb for r in cell.runs):.0f}", ratio, "; ".join(note),
        ])
    return rows


HEADER = ["approach", "rows timed", "rows/s", "median s", "min-max s", "peak RSS MB", "x read", "note"]


VARIANT_HEADER = ["file and schema", "read_cli s", "ours_cli / read_cli", "base_cli / read_cli", "ours / read",
                  "invalid rows"]


def variant_table(results: dict, datasets: list[str]) -> list[list[str]]:
    """One line per shape: the ratios to the plain read of the same file, medians of paired rounds."""
    rows = []
    for ds in datasets:
        cells = results[ds]

        def ratio(num: str, den: str) -> str:
            r = paired_ratio(cells.get(num), cells.get(den))
            return f"{r:.2f}x" if r is not None else "-"

        read = cells.get("read_cli")
        rows.append([ds, f"{read.median:.3f}" if read and read.runs else "-", ratio("ours_cli", "read_cli"),
                     ratio("base_cli", "read_cli"), ratio("ours", "read"),
                     str(OURS_INVALID.get(ds, "-"))])
    return rows


def markdown_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def target_checks(results: dict) -> list[tuple[str, str, bool | None]]:
    def med(ds, name):
        return results.get(ds, {}).get(name)

    checks = []

    def ratio(label, num, den, limit, le=True):
        r = paired_ratio(num, den)
        if r is None:
            checks.append((label, "not measured", None))
            return
        checks.append((label, f"{r:.2f}x", r <= limit if le else r >= limit))

    ratio("users: ours / polars read <= 1.5", med("users", "ours"), med("users", "read"), 1.5)
    ratio("wide: ours / polars read <= 2.5", med("wide", "ours"), med("wide", "read"), 2.5)
    ratio("users.xlsx: ours / fastexcel read <= 1.5", med("users_xlsx", "ours"), med("users_xlsx", "read"), 1.5)
    ratio("users: seed approach / ours >= 150", med("users", "seed_literal"), med("users", "ours"), 150, le=False)
    ratio("users: jsonschema-rs per row / ours >= 15", med("users", "jsonschema_rs"), med("users", "ours"), 15, le=False)
    ratio("users: pandera-polars / ours > 1", med("users", "pandera_polars"), med("users", "ours"), 1.0000001, le=False)
    ratio("users (CLI, info): ours_cli / read_cli", med("users", "ours_cli"), med("users", "read_cli"), 1.5)
    ratio("wide (CLI, info): ours_cli / read_cli", med("wide", "ours_cli"), med("wide", "read_cli"), 2.5)
    ratio("users.xlsx (CLI, info): ours_cli / read_cli", med("users_xlsx", "ours_cli"), med("users_xlsx", "read_cli"), 1.5)
    return checks


def machine_info() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for pkg in ("polars", "fastexcel", "jsonschema", "jsonschema-rs", "fastjsonschema", "pandera", "frictionless", "numpy"):
        try:
            versions.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            versions.append(f"{pkg} (missing)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} cores (nproc), {cpu}, {mem:.0f} GiB RAM, {platform.platform()}",
        f"- python {platform.python_version()}; " + ", ".join(versions),
        f"- repository commit: {commit or '?'}",
    ]


def write_chart(results: dict, datasets: list[str], total_rows: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [d for d in datasets if any(c.runs for c in results[d].values())]
    if not shown:
        return
    counts = [sum(1 for a in APPROACHES if results[d].get(a.name) and results[d][a.name].runs) for d in shown]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 1.2 * len(shown) + 0.42 * sum(counts)), squeeze=False,
                             gridspec_kw={"height_ratios": [c + 2 for c in counts]})
    for ax, ds in zip(axes[:, 0], shown):
        names, meds, lo, hi, colors = [], [], [], [], []
        for a in APPROACHES:
            c = results[ds].get(a.name)
            if not c or not c.runs:
                continue
            secs = [r.seconds for r in c.runs]
            m = statistics.median(secs)
            names.append(a.name + (" (extrapolated)" if c.runs[0].extrapolated else ""))
            meds.append(m)
            lo.append(m - min(secs))
            hi.append(max(secs) - m)
            colors.append("tab:green" if a.ours else "tab:gray" if a.name.startswith("read") else "tab:blue")
        y = range(len(names))
        ax.barh(y, meds, xerr=[lo, hi], color=colors)
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("median seconds (log scale; whiskers: min-max)")
        ax.set_title(f"{ds}: {total_rows[ds]:,} rows")
        for yi, m, h in zip(y, meds, hi):
            ax.text(m + h, yi, f"  {m:.3g} s", va="center", fontsize=8)
        ax.set_xlim(right=max(m + h for m, h in zip(meds, hi)) * 6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- agreement


def agreement(results: dict, ours_rows: dict[str, list[int] | None], truth: dict[str, set[int]]) -> list[tuple[str, str, bool | None]]:
    """(what, detail, passed or None for information only)."""
    out = []
    for ds, cells in results.items():
        ref = ours_rows.get(ds)
        if ref is None:
            continue
        ref_set = set(ref)
        if ds in truth:
            t = truth[ds]
            out.append((f"{ds}: ours vs generator's defect list", f"{len(ref_set)} vs {len(t)} invalid rows; "
                        f"{len(ref_set - t)} extra, {len(t - ref_set)} missed", ref_set == t))
        for a in APPROACHES:
            c = cells.get(a.name)
            if not c or not c.runs or c.runs[0].invalid_rows is None or a.name == "read":
                continue
            n = c.runs[0].rows_timed
            theirs = set(c.runs[0].invalid_rows)
            mine = {r for r in ref_set if r <= n + 1}
            detail = (f"first {n:,} rows: {len(theirs)} vs ours {len(mine)}; "
                      f"only theirs {sorted(theirs - mine)[:5]}{'...' if len(theirs - mine) > 5 else ''}, "
                      f"only ours {sorted(mine - theirs)[:5]}{'...' if len(mine - theirs) > 5 else ''}")
            out.append((f"{ds}: {a.name} vs ours", detail, (theirs == mine) if a.exact else None))
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="users rows (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per approach (default 3)")
    ap.add_argument("--only", help="comma-separated approaches, e.g. read,ours,ours_cli")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of " + ",".join(DATASETS))
    ap.add_argument("--seed-sample", type=int, default=2_000,
                    help="users rows the seed's approach validates (default 2,000; wide gets a tenth: 10x the columns)")
    ap.add_argument("--slow-sample", type=int, default=100_000,
                    help="users rows python-jsonschema (reused) and frictionless validate (default 100,000; wide a tenth)")
    ap.add_argument("--skip-big", action="store_true", help="skip the >= 5 GB streaming check (bigfile.py)")
    ap.add_argument("--big-gb", type=float, default=5.0)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and results.png alone")
    ap.add_argument("--regen", action="store_true", help="regenerate the data files")
    ap.add_argument("--engine", default="HEAD",
                    help="which engine to time: a git commit (default HEAD, extracted to benchmarks/data/engine-*, "
                         "so edits in progress cannot break a run) or 'worktree' for the files as they are")
    ap.add_argument("--baseline", help="also time the CLI of this git commit (base_cli), round-robin with ours: "
                                       "before and after in one run")
    # worker mode (internal)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--schema-path", help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--replot", action="store_true", help="redraw results.png from results.json, run nothing")
    ap.add_argument("--wide-columns", type=int, default=5, metavar="ROUNDS",
                    help="rounds of wide_columns.py (10,000 columns x 3 rows against python-jsonschema per row, "
                         "and the start-up on a 10-row file), whole processes; 0 skips it (default 5)")
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.replot:
        saved = json.loads((HERE / "results.json").read_text())
        res = {ds: {name: Cell([Run(**r) for r in c["runs"]], c["skipped"]) for name, c in cells.items()}
               for ds, cells in saved["raw"].items()}
        write_chart(res, list(res), saved["total_rows"], HERE / "results.png")
        return 0

    import polars as pl

    from datagen import dataset_paths

    datasets = [d for d in args.datasets.split(",") if d]
    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - {a.name for a in APPROACHES}
    if unknown:
        ap.error(f"unknown approaches: {sorted(unknown)}")
    # generate in a child: this process stays small (see run_process on ru_maxrss)
    subprocess.run([sys.executable, str(HERE / "datagen.py"), "--rows", str(args.rows)]
                   + (["--regen"] if args.regen else []), check=True, stdout=subprocess.DEVNULL)
    paths = dataset_paths(args.rows)
    baseline_note = ""
    if args.baseline:
        before = os.environ.get("PYTHONPATH")
        baseline_note = use_engine(args.baseline)
        BASELINE_ENV.update(os.environ)
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before
    engine_note = use_engine(args.engine)
    print(f"engine: {engine_note}" + (f"; baseline: {baseline_note}" if baseline_note else ""), file=sys.stderr)
    schema_paths = {"users": paths["users"].parent / "users.schema.json", "wide": paths["wide"].parent / "wide.schema.json"}
    schema_paths["users_xlsx"] = schema_paths["users"]
    if any(ds in VARIANTS for ds in datasets):
        from variants import write_variants

        for name, (csv_path, schema_path) in write_variants(args.rows).items():
            if f"users_{name}" in VARIANTS:
                paths[f"users_{name}"], schema_paths[f"users_{name}"] = csv_path, schema_path
    truth = {"users": set(pl.read_parquet(paths["users"].with_suffix(".defects.parquet"))["row"].to_list())}
    truth["users_xlsx"] = {r for r in truth["users"] if r <= min(args.rows, 100_000) + 1}

    n_columns = {ds: 10 if ds in VARIANTS else len(json.loads(schema_paths[ds].read_text())["properties"])
                 for ds in datasets}
    inproc_reason, cli_reason = engine_status()
    for why, what in ((inproc_reason, "ours"), (cli_reason, "ours_cli")):
        if why:
            print(f"skipping {what}: {why}", file=sys.stderr)

    results: dict = {d: {} for d in datasets}
    plan = []
    for ds in datasets:
        for a in APPROACHES:
            if ds not in a.datasets or (only and a.name not in only):
                continue
            if a.name == "base_cli" and not args.baseline:
                continue
            reason = inproc_reason if a.name == "ours" else cli_reason if a.name == "ours_cli" else ""
            results[ds][a.name] = Cell(skipped=reason)
            if not reason:
                plan.append((ds, a))
    failed = False
    for rep in range(args.repeat):
        for ds, a in plan:
            sample = {"seed": args.seed_sample, "slow": args.slow_sample}.get(a.sample)
            if sample:
                # samples are sized in users rows (10 cells); wide rows have 100 cells
                sample = max(1, sample * 10 // n_columns[ds])
            path = paths[ds]
            try:
                run = measure(a, ds, path, schema_paths[ds], sample)
            except Exception as e:  # one broken approach must not sink the whole run
                results[ds][a.name].skipped = f"error: {str(e).splitlines()[-1] if str(e) else type(e).__name__}"[:200]
                results[ds][a.name].runs.clear()
                plan = [(d, b) for d, b in plan if (d, b.name) != (ds, a.name)]
                print(f"[{ds}] {a.name} failed: {e}", file=sys.stderr)
                failed = True
                continue
            if rep and run.invalid_rows is not None:
                run.invalid_rows = None  # keep only the first repeat's rows for the agreement check
            results[ds][a.name].runs.append(run)
            print(f"[{rep + 1}/{args.repeat}] {ds:<10} {a.name:<18} {run.seconds:9.3f} s  {run.rss_mb:7.0f} MB"
                  + ("  (extrapolated)" if run.extrapolated else ""), file=sys.stderr, flush=True)

    total_rows = {}
    for ds in datasets:
        total_rows[ds] = (pl.scan_csv(paths[ds], infer_schema=False, truncate_ragged_lines=True).select(pl.len())
                          .collect().item() if ds in CSV or ds in VARIANTS else min(args.rows, 100_000))

    # our full invalid-row sets (not timed), the reference for the agreement check
    ours_rows: dict[str, list[int] | None] = {}
    for ds in datasets:
        if inproc_reason or (only and "ours" not in only and not any(results[ds].get(a.name) for a in APPROACHES if a.exact)):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            res = Path(tmp) / "r.json"
            _, _, rc, _, err = run_process(worker_cmd("ours_invalid_rows", paths[ds], schema_paths[ds], None, res))
            if rc:
                print(f"[{ds}] ours invalid_out run failed: {err.strip()[-800:]}", file=sys.stderr)
                failed = True
                continue
            ours_rows[ds] = json.loads(res.read_text())["invalid_rows"]
    if "users" in ours_rows and "users_xlsx" in ours_rows:
        # the xlsx holds the first rows of users: our verdicts on both must match
        n = total_rows["users_xlsx"]
        csv_part = {r for r in ours_rows["users"] if r <= n + 1}
        if csv_part != set(ours_rows["users_xlsx"]):
            print("FAIL users_xlsx: ours on the xlsx disagrees with ours on the same rows of the csv", file=sys.stderr)
            failed = True

    checks = agreement(results, ours_rows, truth)
    # without our engine, still check the exact baselines against the generator's ground truth
    for ds in datasets:
        if ds in ours_rows or ds not in truth:
            continue
        for a in APPROACHES:
            c = results[ds].get(a.name)
            if a.exact and c and c.runs and c.runs[0].invalid_rows is not None:
                n = c.runs[0].rows_timed
                want = {r for r in truth[ds] if r <= n + 1}
                got = set(c.runs[0].invalid_rows)
                checks.append((f"{ds}: {a.name} vs generator's defect list", f"first {n:,} rows: {len(got)} vs {len(want)}", got == want))

    out = []
    for ds in datasets:
        rows = table(results, ds, total_rows[ds])
        out.append((ds, rows))
        print(f"\n## {ds} ({total_rows[ds]:,} rows, {paths[ds].name})\n" + text_table(rows))
    variant_rows = variant_table(results, [ds for ds in ("users", *VARIANTS) if ds in datasets])
    if variant_rows:
        print("\n## The users file in other shapes (ours / plain Polars read of the same file)\n"
              + text_table(variant_rows, VARIANT_HEADER))
    targets = target_checks(results)
    wide_columns = None
    if args.wide_columns > 0 and not cli_reason:
        from wide_columns import compare

        # The engine timed (and --baseline's) through PYTHONPATH, as every CLI run of this one.
        wide_columns = compare(10_000, 3, args.wide_columns, BASELINE_ENV if args.baseline else None)
        print("\n## 10,000 columns x 3 rows (wide_columns.py)\n" + wide_columns["markdown"])
        for problem in wide_columns["disagree"]:
            print(f"  FAIL  wide_columns: {problem}")
            failed = True
        for case, by_cli in wide_columns["ratios"].items():
            targets.append((f"10,000 columns x 3 rows, {case}: typecheck validate / python-jsonschema per row <= 1.0 "
                            "(goal 0.5)", f"{by_cli['ours']:.2f}x", by_cli["ours"] <= 1.0))
        for case, by_cli in wide_columns["startup"].items():
            if case != "python -c pass":
                wall, cpu = by_cli["ours"]
                targets.append((f"start-up, {case}: typecheck validate <= 0.25 s", f"{wall:.3f} s wall, {cpu:.3f} s CPU",
                                wall <= 0.25))

    print("\nTargets:")
    for label, value, ok in targets:
        print(f"  {'PASS' if ok else 'MISS' if ok is False else '----'}  {label}: {value}")
    print("\nAgreement on the set of invalid rows:")
    if not checks:
        print("  (nothing to compare)")
    for label, detail, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL' if ok is False else 'info'}  {label}: {detail}")
    agreement_failed = any(ok is False for _, _, ok in checks)

    big_md = ""
    if not args.skip_big:
        from bigfile import run_big

        big = run_big(args.big_gb, keep=False)
        big_md = big["markdown"]
        failed |= not big["ok"]

    if not args.no_write:
        md_lines = ["# Benchmark results", "", "Written by `python benchmarks/run.py " + " ".join(argv or sys.argv[1:]) + "`.", ""]
        md_lines += machine_info() + [f"- engine timed: {engine_note}"]
        md_lines += ["", f"Repeats: {args.repeat} per approach, round-robin; median and min-max. Seed sample: "
                     f"{args.seed_sample:,} rows; slow sample (python-jsonschema reused, frictionless): {args.slow_sample:,} rows. "
                     "Ratios (x read) are medians over rounds of (approach / all-strings read of the same file in the same round) "
                     "(`pl.read_csv(infer_schema=False)`; for xlsx fastexcel `load_sheet(dtypes='string')`); "
                     "CLI rows are end-to-end wall time including interpreter start-up and are divided by `read_cli`, "
                     "the same read run as `python -c`. Peak RSS is the maximum over repeats of each process's own peak."]
        if variant_rows:
            md_lines += ["", "## The users file in other shapes", "",
                         "Each variant against a plain Polars read of its own file, whole processes (`_cli`) "
                         "and in-process; `base` is the `--baseline` engine's CLI in the same rounds.", "",
                         markdown_table(variant_rows, VARIANT_HEADER)]
        for ds, rows in out:
            md_lines += ["", f"## {ds}: {total_rows[ds]:,} rows (`{paths[ds].name}`)", "", markdown_table(rows)]
        if wide_columns is not None:
            md_lines += ["", "## Wide files and start-up (`wide_columns.py`)", "",
                         "`typecheck validate` against python-jsonschema checking each row (the `csv` module, "
                         "whole processes, round-robin); `base` is the `--baseline` engine's CLI in the same rounds.",
                         "", wide_columns["markdown"]]
        md_lines += ["", "## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
        md_lines += [f"| {l} | {v} | {'pass' if ok else 'MISS' if ok is False else '-'} |" for l, v, ok in targets]
        md_lines += ["", "## Agreement on the set of invalid rows", ""]
        md_lines += [f"- **{'PASS' if ok else 'FAIL' if ok is False else 'info'}** {l}: {d}" for l, d, ok in checks] or ["- nothing compared"]
        if big_md:
            md_lines += ["", big_md]
        md_lines += ["", "![results](results.png)", ""]
        # Sections kept by hand below the generated ones (an earlier full run, the jobs, API and
        # operations benchmarks the docs link to) stay.
        previous = (HERE / "RESULTS.md").read_text() if (HERE / "RESULTS.md").exists() else ""
        kept = previous.find("\n## Earlier full run")
        if kept >= 0:
            md_lines += [previous[kept + 1:].rstrip("\n"), ""]
        (HERE / "RESULTS.md").write_text("\n".join(md_lines))
        raw = {ds: {name: {"skipped": c.skipped, "runs": [{k: v for k, v in r.__dict__.items() if k != "invalid_rows"}
                                                          for r in c.runs]}
                    for name, c in results[ds].items()} for ds in datasets}
        (HERE / "results.json").write_text(json.dumps({"argv": argv or sys.argv[1:], "total_rows": total_rows,
                                                       "raw": raw}, indent=1) + "\n")
        write_chart(results, datasets, total_rows, HERE / "results.png")
        print(f"\nwrote {HERE / 'RESULTS.md'} and {HERE / 'results.png'}")
    return 1 if (agreement_failed or failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
