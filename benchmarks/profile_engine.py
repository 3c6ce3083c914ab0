"""Where does ``validate_file`` spend its time?  Stage by stage, and check by check.

    python benchmarks/profile_engine.py benchmarks/data/users_1000000.csv benchmarks/data/users.schema.json
    python benchmarks/profile_engine.py FILE SCHEMA --engine worktree --repeat 3

Stages: importing the engine, compiling the schema, reading (open_table and
its batches), the one Polars query of all checks (as of engine 1d87c60: rare
rows handed to python-jsonschema are not in it), building the error list (run
time with ``max_errors`` minus run time with 0), and ``validate_file`` end to end; then every compiled check alone
(its ``fails`` expression with the plan's prelude), slowest first, as a share
of the all-strings read of the same file.  Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine_snapshot import use_engine  # noqa: E402


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path)
    ap.add_argument("schema", type=Path)
    ap.add_argument("--engine", default="HEAD", help="git commit (default HEAD) or 'worktree'")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-errors", type=int, default=1000)
    args = ap.parse_args(argv)
    print(f"engine: {use_engine(args.engine)}")
    # use_engine sets PYTHONPATH for children; this process needs the path too
    import os

    for p in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
        if p:
            sys.path.insert(0, p)

    t0 = time.perf_counter()
    import polars as pl

    t_polars = time.perf_counter() - t0
    t0 = time.perf_counter()
    from airflow_provider_typecheck.validation import engine as eng
    from airflow_provider_typecheck.validation import open_table, validate_file

    t_engine_import = time.perf_counter() - t0
    print(f"engine module: {eng.__file__}")
    schema = json.loads(args.schema.read_text())
    r = args.repeat

    from approaches import read_text_frame

    t_read, frame = timed(lambda: read_text_frame(args.file), r)
    t_compile, compiled = timed(lambda: eng.CompiledSchema(schema), 1)
    compiled = eng.compile_schema(schema)

    def engine_read():
        table = open_table(args.file)
        return table, [b for b in table.batches()]

    t_engine_read, (table, batches) = timed(engine_read, r)
    plan = compiled.plan(table.header)

    def all_checks():
        out = []
        for batch in batches:
            out.append(batch.lazy().with_columns(plan.prelude()).select(
                [c.fails.fill_null(False).alias(f"c{i}") for i, c in enumerate(plan.checks)]).collect())
        return out

    t_checks, verdicts = timed(all_checks, r)

    # public API only, so this survives changes to the engine's internals
    t_total, report = timed(lambda: validate_file(args.file, schema, max_errors=args.max_errors).to_dict(), r)
    t_no_errors, _ = timed(lambda: validate_file(args.file, schema, max_errors=0).to_dict(), r)
    t_report = t_total - t_no_errors

    print(f"\n{args.file.name}: {report['total_rows']:,} rows, {report['invalid_rows']:,} invalid, "
          f"{len(plan.checks)} compiled checks; medians of {r}")
    rows = [
        ("import polars (once)", t_polars),
        ("import the engine after polars (once)", t_engine_import),
        ("compile schema (once)", t_compile),
        ("all-strings read (pl.read_csv / fastexcel)", t_read),
        ("engine read: open_table + batches", t_engine_read),
        ("one Polars query of all checks", t_checks),
        (f"report: first {args.max_errors} errors (total - max_errors=0)", t_report),
        ("validate_file end to end (+ to_dict)", t_total),
    ]
    for name, t in rows:
        print(f"  {name:<48} {t:8.3f} s  {t / t_read:6.2f}x read")

    # The progress callback's cost, measured inside it (a timing difference of two
    # noisy runs could not resolve 2%): a progress bar written for every batch.
    bar, spent = io.StringIO(), []

    def progress(done: int, total: int | None) -> None:
        t = time.perf_counter()
        bar.write(f"\r[{'#' * int(30 * done / (total or done))}] {done:,}/{total or 0:,} rows")
        spent.append(time.perf_counter() - t)

    batch_rows = 100_000
    t_batched, _ = timed(lambda: validate_file(args.file, schema, max_errors=args.max_errors,
                                               batch_rows=batch_rows, progress=progress), 1)
    print(f"  {f'validate_file in {batch_rows:,}-row batches':<48} {t_batched:8.3f} s  {t_batched / t_read:6.2f}x read")
    print(f"  progress callback: {len(spent)} calls, {sum(spent) * 1000:.3f} ms in all, "
          f"{100 * sum(spent) / t_batched:.4f}% of that run")

    print("\nEach check alone (with the plan's prelude), slowest first:")
    prelude = plan.prelude()
    base = batches[0].lazy().with_columns(prelude)
    t_prelude, _ = timed(lambda: base.select(pl.len()).collect() if not prelude else
                         batches[0].lazy().with_columns(prelude).collect(), r)
    print(f"  {'prelude only':<48} {t_prelude:8.3f} s  {t_prelude / t_read:6.2f}x read")
    per = []
    for c in plan.checks:
        t, _ = timed(lambda c=c: base.select(c.fails.fill_null(False).sum()).collect(), r)
        per.append((t, f"{c.column or '(row)'}:{c.keyword}"))
    for t, name in sorted(per, reverse=True)[:25]:
        print(f"  {name:<48} {t:8.3f} s  {t / t_read:6.2f}x read")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
