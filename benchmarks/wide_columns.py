"""Very wide files: a few rows, thousands of columns, where the per-column work is the cost;
and the start-up of ``typecheck validate`` on a 10-row file.

    python benchmarks/wide_columns.py                     # 10,000 columns x 3 rows, 5 rounds
    python benchmarks/wide_columns.py --columns 9074 --rows 3
    python benchmarks/wide_columns.py --baseline-pythonpath DIR   # also a snapshot's CLI (run.py --baseline)
    python benchmarks/wide_columns.py --profile           # cProfile of one run of ours, top 25

For each case (all rows valid; every row with errors) it times whole processes,
round-robin in one run: ours (``typecheck validate FILE --schema SCHEMA``, as a
user runs it) and the reference (``python wide_columns.py --reference FILE
SCHEMA``: python-jsonschema per row, the file read by the ``csv`` module, each
cell turned into its JSON value by the typing contract's rules, ``iter_errors``
on every row; it imports nothing of ours, nor Polars). Prints medians and the
median of the per-round ratios ours / reference, which the speed issue wants
within 1.0x (goal 0.5x); exits 1 when the two disagree on the invalid rows.

Start-up, in the same rounds: ``typecheck validate`` on the first 10 rows of the
users file (datagen.py), against its schema (enum and pattern columns: the
Polars path) and against the schema without them (every column checked by the
native pre-scan, which never imports Polars); wall and CPU seconds (user +
system) of the whole process, medians. The issue's target: 0.25 s.
``run.py --wide-columns ROUNDS`` runs all of it and puts it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, from this process's children's usage) of a whole
    process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:2]} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


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


def make_startup_cases(folder: Path) -> list[tuple[str, Path, Path]]:
    """The first 10 users rows, against the users schema and against it without enum and pattern."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from datagen import users_frame, users_schema

    path = folder / "users_10.csv"
    users_frame(10).drop("_defect").write_csv(path)
    full = users_schema()
    native = json.loads(json.dumps(full))
    native["properties"]["country"].pop("enum")
    native["properties"]["plan"].pop("pattern")
    cases = []
    for name, schema in (("10 users rows, users schema", full),
                         ("10 users rows, without enum and pattern", native)):
        schema_path = folder / f"users_10_{'full' if schema is full else 'native'}.schema.json"
        schema_path.write_text(json.dumps(schema))
        cases.append((name, path, schema_path))
    return cases


def compare(columns: int, rows: int, rounds: int, baseline_env: dict[str, str] | None = None) -> dict:
    """Time the wide cases and the start-up cases, round-robin; the results as data and markdown.

    ``baseline_env`` (an environment whose PYTHONPATH names another engine) adds that
    engine's CLI, ``base``, to the same rounds.
    """
    folder = Path(tempfile.mkdtemp(prefix="typecheck-wide-"))
    clis = {"ours": None} | ({"base": baseline_env} if baseline_env is not None else {})
    wide = []
    disagree = []
    for broken in (False, True):
        path, schema = make_case(folder, columns, rows, broken)
        schema_path = path.with_suffix(".schema.json")
        schema_path.write_text(json.dumps(schema))
        wide.append(("errors in every row" if broken else "all rows valid", path, schema_path))
    startup = make_startup_cases(folder)
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    verdicts: dict[tuple[str, str], set[int]] = {}
    for _ in range(rounds):
        for case, path, schema_path in wide:
            for name in (*clis, "reference"):
                cmd = reference_cmd(path, schema_path) if name == "reference" else ours_cmd(path, schema_path)
                elapsed, _, out = timed(cmd, clis.get(name))
                times.setdefault((case, name), []).append(elapsed)
                verdicts[(case, name)] = (set(json.loads(out)) if name == "reference"
                                          else {error["row"] for error in json.loads(out)["errors"]})
        for case, path, schema_path in startup:
            for name in clis:
                elapsed, seconds, _ = timed(ours_cmd(path, schema_path), clis[name])
                times.setdefault((case, name), []).append(elapsed)
                cpu.setdefault((case, name), []).append(seconds)
        elapsed, seconds, _ = timed([sys.executable, "-P", "-c", "pass"])
        times.setdefault(("python -c pass", "ours"), []).append(elapsed)
        cpu.setdefault(("python -c pass", "ours"), []).append(seconds)
    for case, _, _ in wide:
        for name in clis:
            if verdicts[(case, name)] != verdicts[(case, "reference")]:
                disagree.append(f"{name} on {case}: {sorted(verdicts[(case, name)])[:10]} vs "
                                f"{sorted(verdicts[(case, 'reference')])[:10]}")

    def ratio(case: str, name: str) -> float:
        pairs = zip(times[(case, name)], times[(case, "reference")], strict=True)
        return statistics.median(a / b for a, b in pairs)

    med = {key: statistics.median(values) for key, values in times.items()}
    med_cpu = {key: statistics.median(values) for key, values in cpu.items()}
    header = ["case", "ours", "python-jsonschema per row", "ours / reference", *(["base / reference"] if "base" in clis
                                                                                 else [])]
    lines = [f"{columns:,} columns x {rows} rows, {rounds} rounds, whole processes (medians)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ratios = {}
    for case, _, _ in wide:
        ratios[case] = {name: ratio(case, name) for name in clis}
        cells = [case, f"{med[(case, 'ours')]:.2f} s", f"{med[(case, 'reference')]:.2f} s",
                 f"{ratios[case]['ours']:.2f}x", *([f"{ratios[case]['base']:.2f}x"] if "base" in clis else [])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Start-up: `typecheck validate` of a 10-row file, whole process (medians; target 0.25 s)", "",
              "| case | wall s | CPU s (user + system) |" + (" base wall s | base CPU s |" if "base" in clis else ""),
              "|---|---|---|" + ("---|---|" if "base" in clis else "")]
    startups = {}
    for case, _, _ in [*startup, ("python -c pass", None, None)]:
        startups[case] = {name: (med[(case, name)], med_cpu[(case, name)]) for name in clis if (case, name) in med}
        cells = [case, f"{med[(case, 'ours')]:.3f}", f"{med_cpu[(case, 'ours')]:.3f}"]
        if "base" in clis:
            cells += ([f"{med[(case, 'base')]:.3f}", f"{med_cpu[(case, 'base')]:.3f}"] if (case, "base") in med
                      else ["", ""])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"load average at the end: {os.getloadavg()[0]:.2f}"]
    return {"markdown": "\n".join(lines), "ratios": ratios, "startup": startups, "disagree": disagree,
            "columns": columns, "rows": rows, "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-pythonpath", type=Path,
                        help="also time the CLI with this directory first on PYTHONPATH (an engine snapshot)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--reference", nargs=2, type=Path, metavar=("FILE", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        return reference_main(*args.reference)
    if args.profile:
        folder = Path(tempfile.mkdtemp(prefix="typecheck-wide-"))
        for broken in (False, True):
            path, schema = make_case(folder, args.columns, args.rows, broken)
            profile_ours(path, schema)
        return 0
    baseline_env = None
    if args.baseline_pythonpath:
        baseline_env = dict(os.environ, PYTHONPATH=str(args.baseline_pythonpath.resolve()))
    result = compare(args.columns, args.rows, args.rounds, baseline_env)
    print(result["markdown"])
    for problem in result["disagree"]:
        print(f"DISAGREE {problem}")
    return 1 if result["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
