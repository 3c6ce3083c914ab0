"""Very wide files: a few rows, thousands of columns, where compiling the schema is the work.

    python benchmarks/wide_columns.py                     # 10,000 columns x 3 rows, 3 rounds
    python benchmarks/wide_columns.py --columns 9074 --rows 3
    python benchmarks/wide_columns.py --profile           # cProfile of one run of ours, top 25

For each case (all rows valid; every row with errors) it times, in one run,
round-robin: ours (``validate_file`` with a schema never compiled before in
the process, so the compile and plan are counted) and the reference
(python-jsonschema per row: ``csv`` module read, the typing contract's
coercion, ``iter_errors`` on every row, then the same counts). Prints medians
and the ratio ours / reference, which the issue wants within 2x; exits 1 when
the two disagree on the invalid rows.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_provider_typecheck.validation import validate_file  # noqa: E402
from airflow_provider_typecheck.validation.cells import ABSENT_VALUE  # noqa: E402
from airflow_provider_typecheck.validation.compiler import plan_cells  # noqa: E402
from airflow_provider_typecheck.validation.schema import validator_class  # noqa: E402

KINDS = (
    ({"type": "integer", "minimum": 0, "maximum": 1000}, lambda r, c: str((r * 7 + c) % 1000)),
    ({"type": "number"}, lambda r, c: f"{r}.{c % 97}"),
    ({"type": "string", "maxLength": 12}, lambda r, c: f"v{r}-{c}"),
    ({"type": ["string", "null"], "enum": ["a", "b", "c", None]}, lambda r, c: "abc"[(r + c) % 3]),
    ({"type": "boolean"}, lambda r, c: "true" if (r + c) % 2 else "false"),
)


def make_case(folder: Path, columns: int, rows: int, broken: bool) -> tuple[Path, dict]:
    header = [f"c{i}" for i in range(columns)]  # short names: the header fits the 64 KiB sniffed head
    properties = {name: KINDS[i % len(KINDS)][0] for i, name in enumerate(header)}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": properties, "required": header, "additionalProperties": False}
    path = folder / f"wide_{columns}x{rows}_{'errors' if broken else 'valid'}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in range(rows):
            cells = [KINDS[c % len(KINDS)][1](r, c) for c in range(columns)]
            if broken:  # one bad cell in every 50th column of every row
                for c in range(r % 50, columns, 50):
                    cells[c] = "-1" if c % len(KINDS) == 0 else ("x" * 20 if c % len(KINDS) == 2 else "oops")
            writer.writerow(cells)
    return path, schema


def reference(path: Path, schema: dict) -> set[int]:
    """python-jsonschema, one validator, row by row, on the typing contract's values."""
    cls = validator_class(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    invalid = set()
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        cells = plan_cells(schema, validator, header)
        for number, record in enumerate(reader, start=2):
            row = {}
            for cell, text in zip(cells, record, strict=True):
                value = cell.coerce(text)
                if value is not ABSENT_VALUE:
                    row[cell.name] = value
            errors = list(validator.iter_errors(row))  # all of them: ours counts them all too
            if errors:
                invalid.add(number)
    return invalid


def ours(path: Path, schema: dict, salt: int) -> set[int]:
    # A schema unseen in this process (compiled schemas are cached by content).
    fresh = {**schema, "$comment": f"round {salt}"}
    report = validate_file(path, fresh, max_errors=10**9)
    return {error.row for error in report.errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="typecheck-wide-"))
    salt = 0
    failed = False
    print(f"{args.columns:,} columns x {args.rows} rows, {args.rounds} rounds (medians)\n")
    print("| case | ours | python-jsonschema per row | ours / reference |\n|---|---|---|---|")
    for broken in (False, True):
        path, schema = make_case(folder, args.columns, args.rows, broken)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(ours, path, schema, -1 - broken)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            continue
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        verdicts = {}
        for _ in range(args.rounds):
            for name in times:
                salt += 1
                started = time.perf_counter()
                verdicts[name] = ours(path, schema, salt) if name == "ours" else reference(path, schema)
                times[name].append(time.perf_counter() - started)
        if verdicts["ours"] != verdicts["reference"]:
            failed = True
            print(f"DISAGREE on {path.name}: ours {sorted(verdicts['ours'])} reference {sorted(verdicts['reference'])}")
        mine, theirs = statistics.median(times["ours"]), statistics.median(times["reference"])
        print(f"| {'errors in every row' if broken else 'all rows valid'} | {mine:.2f} s | {theirs:.2f} s "
              f"| {mine / theirs:.2f}x |")
    print(json.dumps({"columns": args.columns, "rows": args.rows}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
