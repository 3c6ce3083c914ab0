"""A narrow schema's short file reads no sample for repetitive columns: it has too few rows for any."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import validate_file
from airflow_provider_typecheck.validation.engine.planning import SAMPLE_MIN_ROWS
from airflow_provider_typecheck.validation.readers.csv_reader import CsvFile

SCHEMA = {"type": "object", "required": ["id", "plan"],
          "properties": {"id": {"type": "integer"}, "plan": {"enum": ["free", "pro"]},
                         "code": {"type": "string", "pattern": "^[a-z]+$"}}}


def write(folder: Path, rows: int) -> Path:
    path = folder / "plans.csv"
    lines = ["id,plan,code", *(f"{i},{'free' if i % 3 else 'gold'},{'abc' if i % 5 else 'A1'}" for i in range(rows))]
    path.write_text("\n".join(lines) + "\n")
    return path


def errors(report) -> list[tuple]:
    return [(e.row, e.column, e.keyword, e.message) for e in report.errors]


def test_a_short_file_reads_no_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 10)
    expected = validate_file(path, SCHEMA)
    monkeypatch.setattr(CsvFile, "head", lambda *args: pytest.fail("a sample was read"))
    report = validate_file(path, SCHEMA)
    assert (report.invalid_rows, errors(report), report.fallback_keywords) == (
        expected.invalid_rows, errors(expected), expected.fallback_keywords)
    assert report.invalid_rows == 5  # i = 0, 3, 6, 9 gold; i = 0, 5 A1


def test_a_file_of_enough_rows_still_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, SAMPLE_MIN_ROWS + 10)
    sampled = []
    head = CsvFile.head
    monkeypatch.setattr(CsvFile, "head", lambda self, rows: sampled.append(rows) or head(self, rows))
    validate_file(path, SCHEMA)
    assert sampled
