"""Writing a big error list as JSON: the report's streaming writer against the old way, side by side.

The old way built the whole report as one dict (``dataclasses.asdict`` of every
error) and handed it to ``json.dump``; ``ValidationReport.write_json`` encodes
and writes the errors a chunk at a time. Both write the same text (checked), to
a temporary file, alternately, ``--repeat`` times; the medians and their ratio
are printed.

    .venv/bin/python benchmarks/json_report.py                  # 1,000,000 errors
    .venv/bin/python benchmarks/json_report.py --errors 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import TextIO

from airflow_provider_typecheck.validation.report import CellError, ValidationReport


def report_of(errors: int) -> ValidationReport:
    listed = [CellError(row=2 + i, column="age" if i % 3 else None, path="/age" if i % 3 else "",
                        keyword="maximum" if i % 3 else "required", value=str(150 + i % 50) if i % 3 else None,
                        message=f"{150 + i % 50} is greater than the maximum of 150" if i % 3
                        else "'name' is a required property")
              for i in range(errors)]
    return ValidationReport(file="users.csv", schema_draft="2020-12", header_row=1, total_rows=errors,
                            invalid_rows=errors, errors_by_column={"age": {"maximum": errors}}, errors=listed)


def old_way(report: ValidationReport, out: TextIO) -> None:
    data = dataclasses.asdict(report)  # what the CLI did: the whole report as one dict, then json.dump
    order = ["file", "header_row", "schema_draft", "total_rows", "valid_rows", "invalid_rows", "errors_by_column",
             "errors", "errors_truncated", "fallback_keywords", "warnings", "elapsed_seconds"]
    data["valid_rows"] = report.valid_rows
    data["elapsed_seconds"] = round(report.elapsed_seconds, 6)
    json.dump({key: data[key] for key in order}, out, ensure_ascii=False)


def streamed(report: ValidationReport, out: TextIO) -> None:
    report.write_json(out)


def timed(write: Callable[[ValidationReport, TextIO], None], report: ValidationReport) -> tuple[float, str]:
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        write(report, out)
        out.flush()
        elapsed = time.perf_counter() - started
        out.seek(0)
        digest = hashlib.sha256(out.read().encode()).hexdigest()
    return elapsed, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = report_of(args.errors)
    runs: dict[str, list[tuple[float, str]]] = {"old (asdict + json.dump)": [], "write_json": []}
    for _ in range(args.repeat):
        runs["old (asdict + json.dump)"].append(timed(old_way, report))
        runs["write_json"].append(timed(streamed, report))
    digests = {digest for results in runs.values() for _, digest in results}
    assert len(digests) == 1, "the two ways wrote different text"
    medians = {name: statistics.median(elapsed for elapsed, _ in results) for name, results in runs.items()}
    for name, results in runs.items():
        spread = f"{min(e for e, _ in results):.3f}-{max(e for e, _ in results):.3f}"
        print(f"{name:26s} {medians[name]:7.3f} s median of {args.repeat} ({spread})")
    old, new = medians.values()
    print(f"{args.errors:,} errors: write_json takes {new / old:.2f} of the old way's time ({old / new:.1f}x faster)")


if __name__ == "__main__":
    main()
