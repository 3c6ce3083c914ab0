"""`typecheck validate --jobs N` against one process, whole processes, side by side in one run.

One users CSV (``datagen``), validated by the CLI with ``--jobs 1`` and ``--jobs N``
(each case the median of ``--rounds`` alternating runs), with the users schema and with
a slow one (a ``pattern`` with a lookahead that python's ``re`` decides for every
distinct value). Prints the wall times, the ratio, and whether the two JSON reports
and ``--invalid-out`` files are equal. No services needed.

Run: ``.venv/bin/python benchmarks/cli_jobs.py [--rows 3000000] [--jobs 2] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402

TYPECHECK = str(Path(sys.executable).parent / "typecheck")
SLOW_PATTERN = "^(?=[a-z])[^@]+@[^@]+$"


def run(path: Path, schema: Path, jobs: int, invalid_out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    result = subprocess.run([TYPECHECK, "validate", str(path), "--schema", str(schema), "--format", "json",
                             "--jobs", str(jobs), "--invalid-out", str(invalid_out)],
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"typecheck failed ({result.returncode}): {result.stderr}")
    report = json.loads(result.stdout)
    report.pop("elapsed_seconds")
    return seconds, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    path = datagen.DATA_DIR / f"users_{args.rows}.csv"
    if not path.exists():
        print(f"generating {path.name}", file=sys.stderr)
        datagen.DATA_DIR.mkdir(parents=True, exist_ok=True)
        datagen.write_users(path, args.rows)
    print(f"{path.name}: {path.stat().st_size / 2**20:.0f} MiB; --jobs 1 against --jobs {args.jobs}, "
          f"median of {args.rounds} alternating runs, whole processes")
    print(f"| schema | --jobs 1 | --jobs {args.jobs} | ratio (1 / {args.jobs}) | same report and rows |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="typecheck-bench-jobs-") as folder:
        work = Path(folder)
        for name, pattern in (("users", None), ("slow (lookahead pattern)", SLOW_PATTERN)):
            schema = datagen.users_schema()
            if pattern is not None:
                schema["properties"]["email"]["pattern"] = pattern
            schema_path = work / "schema.json"
            schema_path.write_text(json.dumps(schema))
            times: dict[int, list[float]] = {1: [], args.jobs: []}
            reports: dict[int, dict] = {}
            for _ in range(args.rounds):
                for jobs in (1, args.jobs):
                    seconds, reports[jobs] = run(path, schema_path, jobs, work / f"bad{jobs}.csv")
                    times[jobs].append(seconds)
            one, many = statistics.median(times[1]), statistics.median(times[args.jobs])
            same = reports[1] == reports[args.jobs] and \
                (work / "bad1.csv").read_bytes() == (work / f"bad{args.jobs}.csv").read_bytes()
            print(f"| {name} | {one:.2f} s | {many:.2f} s | {one / many:.2f}x | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
