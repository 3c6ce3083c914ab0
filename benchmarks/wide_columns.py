"""Very wide files: a few rows, thousands of columns, where the per-column work is the cost.

    python benchmarks/wide_columns.py                     # 10,000 columns x 3 rows, 5 rounds
    python benchmarks/wide_columns.py --columns 9074 --rows 3
    python benchmarks/wide_columns.py --profile           # cProfile of one run of ours, top 25

For each case (all rows valid; every row with errors) it times whole processes,
round-robin in one run: ours (``typecheck validate FILE --schema SCHEMA``, as a
user runs it) and the reference (``python wide_columns.py --reference FILE
SCHEMA``: python-jsonschema per row, the file read by the ``csv`` module, each
cell turned into its JSON value by the typing contract's rules, ``iter_errors``
on every row; it imports nothing of ours, nor Polars). Prints medians and the
median of the per-round ratios ours / reference, which the speed issue wants
within 1.0x (goal 0.5x); exits 1 when the two disagree on the invalid rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TYPECHECK = Path(sys.executable).parent / "typecheck"

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


# The typing contract (docs/contract.md), for the reference: empty is null where null is allowed
# (else absent), true/false in any case a boolean where allowed, a decimal numeral a number.
NUMERAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
INTEGER = re.compile(r"[+-]?[0-9]+")
ABSENT = object()


def contract_value(text: str, allowed: set[str] | None) -> object:
    def allows(*types: str) -> bool:
        return allowed is None or any(t in allowed for t in types)

    if text == "":
        return None if allows("null") else ABSENT
    if allows("boolean") and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if allows("integer", "number") and NUMERAL.fullmatch(text):
        return int(text) if INTEGER.fullmatch(text) else float(text)
    return text


def reference_main(path: Path, schema_path: Path) -> int:
    """python-jsonschema, one validator, row by row; prints the invalid rows as JSON."""
    from jsonschema.validators import validator_for

    schema = json.loads(schema_path.read_text())
    cls = validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    properties = schema.get("properties", {})
    invalid = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        allowed = []
        for name in header:
            declared = properties.get(name, {}).get("type")
            allowed.append(None if declared is None else {declared} if isinstance(declared, str) else set(declared))
        for number, record in enumerate(reader, start=2):
            row = {}
            for name, text, types in zip(header, record, allowed, strict=True):
                value = contract_value(text, types)
                if value is not ABSENT:
                    row[name] = value
            errors = list(validator.iter_errors(row))  # all of them: ours counts them all too
            if errors:
                invalid.append(number)
    print(json.dumps(invalid))
    return 0


def timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:2]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def ours_cmd(path: Path, schema_path: Path) -> list[str]:
    return [str(TYPECHECK), "validate", str(path), "--schema", str(schema_path), "--format", "json",
            "--max-errors", "1000000"]


def reference_cmd(path: Path, schema_path: Path) -> list[str]:
    return [sys.executable, "-P", str(Path(__file__).resolve()), "--reference", str(path), str(schema_path)]


def profile_ours(path: Path, schema: dict) -> None:
    import cProfile
    import pstats

    sys.path.insert(0, str(REPO))
    from airflow_provider_typecheck.validation import validate_file

    profiler = cProfile.Profile()
    profiler.runcall(validate_file, path, schema, max_errors=10**9)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--reference", nargs=2, type=Path, metavar=("FILE", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        return reference_main(*args.reference)
    folder = Path(tempfile.mkdtemp(prefix="typecheck-wide-"))
    failed = False
    print(f"{args.columns:,} columns x {args.rows} rows, {args.rounds} rounds, whole processes (medians)\n")
    print("| case | ours | python-jsonschema per row | ours / reference |\n|---|---|---|---|")
    for broken in (False, True):
        path, schema = make_case(folder, args.columns, args.rows, broken)
        schema_path = path.with_suffix(".schema.json")
        schema_path.write_text(json.dumps(schema))
        if args.profile:
            profile_ours(path, schema)
            continue
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        verdicts = {}
        for _ in range(args.rounds):
            for name, cmd in (("ours", ours_cmd), ("reference", reference_cmd)):
                elapsed, out = timed(cmd(path, schema_path))
                times[name].append(elapsed)
                verdicts[name] = ({error["row"] for error in json.loads(out)["errors"]} if name == "ours"
                                  else set(json.loads(out)))
        if verdicts["ours"] != verdicts["reference"]:
            failed = True
            print(f"DISAGREE on {path.name}: ours {sorted(verdicts['ours'])} reference {sorted(verdicts['reference'])}")
        mine, theirs = statistics.median(times["ours"]), statistics.median(times["reference"])
        ratio = statistics.median(a / b for a, b in zip(times["ours"], times["reference"], strict=True))
        print(f"| {'errors in every row' if broken else 'all rows valid'} | {mine:.2f} s | {theirs:.2f} s "
              f"| {ratio:.2f}x |")
    print(json.dumps({"columns": args.columns, "rows": args.rows, "load": os.getloadavg()[0]}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
