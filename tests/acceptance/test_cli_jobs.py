"""`typecheck validate --jobs N`: a big CSV in N processes gives the report and row files of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import prescan
from airflow_provider_typecheck.validation.parts import MIN_LOCAL_PART_BYTES
from tests.acceptance.test_cli import run

SCHEMA = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "integer"}, "note": {"type": "string", "maxLength": 12},
                   "score": {"type": "number", "minimum": 0}},
}


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over three local parts' worth, with quoted newlines, a short row and errors throughout."""
    folder = tmp_path_factory.mktemp("jobs")
    lines = ["id,note,score"]
    row = 0
    size = 0
    while size < 3 * MIN_LOCAL_PART_BYTES + 1000:
        note = '"two\nlines"' if row % 97 == 0 else ("far too long a note" if row % 1013 == 0 else "fine")
        score = "-1" if row % 499 == 0 else f"{row % 100}.5"
        line = f"{row},{note}" if row == 123_456 else f"{row},{note},{score}"
        lines.append(line)
        size += len(line) + 1
        row += 1
    path = folder / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    return path


@pytest.mark.skipif(not prescan.available(), reason="the split counts records natively")
def test_jobs_give_one_runs_report_and_rows(big_csv: Path, tmp_path: Path) -> None:
    from airflow_provider_typecheck.validation.parts import plan_parts

    schema = big_csv.parent / "schema.json"
    plan = plan_parts(big_csv, part_bytes=-(-big_csv.stat().st_size // 3))
    assert plan is not None and len(plan.parts) == 3  # what --jobs 3 cuts
    outputs = {}
    for jobs in (1, 3):
        result = run("validate", str(big_csv), "--schema", str(schema), "--format", "json", "--jobs", str(jobs),
                     "--max-errors", "50", "--invalid-out", str(tmp_path / f"bad{jobs}.csv"))
        assert result.returncode == 1, result.stderr
        report = json.loads(result.stdout)
        report.pop("elapsed_seconds")
        outputs[jobs] = report
    assert outputs[3] == outputs[1]
    assert outputs[1]["total_rows"] > 100_000 and outputs[1]["errors_truncated"]
    assert (tmp_path / "bad3.csv").read_bytes() == (tmp_path / "bad1.csv").read_bytes()
    assert {"maxLength", "minimum", "ragged"} <= {e["keyword"] for e in outputs[1]["errors"]} | {
        keyword for counts in outputs[1]["errors_by_column"].values() for keyword in counts}


def test_jobs_must_be_one_or_more(big_csv: Path) -> None:
    result = run("validate", str(big_csv), "--schema", str(big_csv.parent / "schema.json"), "--jobs", "0")
    assert result.returncode == 2
    assert "--jobs must be 1 or more" in result.stderr


def test_a_workbook_with_jobs_runs_in_one_process(tmp_path: Path) -> None:
    import polars as pl

    book = tmp_path / "book.xlsx"
    pl.DataFrame({"id": ["1", "x"], "note": ["a", "b"], "score": ["1", "2"]}).write_excel(book)
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    result = run("validate", str(book), "--schema", str(tmp_path / "schema.json"), "--jobs", "4",
                 "--format", "json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["invalid_rows"] == 1
