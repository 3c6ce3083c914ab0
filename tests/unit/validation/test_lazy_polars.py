"""Polars is imported on first use: a CSV the native pre-scan settles never imports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import prescan
from airflow_provider_typecheck.validation.lazy_polars import polars as lazy

SCHEMA = {"type": "object", "required": ["id"],
          "properties": {"id": {"type": "integer", "minimum": 1}, "name": {"type": "string", "maxLength": 5}}}

# Validates in a fresh interpreter (this one has Polars already) and reports what it imported.
PROGRAM = """
import json, sys
from airflow_provider_typecheck.validation import validate_file
report = validate_file(sys.argv[1], json.loads(sys.argv[2]), max_errors=100)
print(json.dumps({"polars": "polars" in sys.modules, "invalid": report.invalid_rows,
                  "errors": [[e.row, e.column, e.keyword, e.value, e.message] for e in report.errors]}))
"""


def run_fresh(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(path), json.dumps(SCHEMA)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not prescan.available(), reason="the native pre-scan is not built")
@pytest.mark.parametrize(
    ("rows", "invalid"),
    [
        (["1,ab", "2,", "3,abcde"], 0),  # every row cleared by the scan
        (["1,ab", "0,toolong", '"",""', "4"], 3),  # a few suspects, a short row among them
    ],
)
def test_a_csv_the_scan_settles_leaves_polars_unimported(
    tmp_path: Path, rows: list[str], invalid: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "small.csv"
    path.write_text("\n".join(["id,name", *rows]) + "\n")
    fresh = run_fresh(path)
    assert fresh["polars"] is False
    assert fresh["invalid"] == invalid
    # The same verdicts and messages as when Polars reads the suspects.
    from airflow_provider_typecheck.validation import validate_file
    from airflow_provider_typecheck.validation.readers import csv_records

    monkeypatch.setattr(csv_records, "scanned_rows", lambda *args: None)
    report = validate_file(path, SCHEMA, max_errors=100)
    assert fresh["errors"] == [[e.row, e.column, e.keyword, e.value, e.message] for e in report.errors]


def test_the_stand_in_gives_polars_names() -> None:
    import polars

    assert lazy.DataFrame is polars.DataFrame
    assert lazy.col("a").meta.output_name() == "a"
    with pytest.raises(AttributeError):
        lazy.no_such_name  # noqa: B018
