"""The one task result: built from the core's report, kept small, read back from a status."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from airflow_provider_typecheck.registry.models import TaskState, TaskStatus
from airflow_provider_typecheck.registry.results import MAX_STORED_SUMMARY_BYTES, ValidationSummary
from airflow_provider_typecheck.validation.report import CellError, ValidationReport

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _report(errors: int, columns: int = 1) -> ValidationReport:
    return ValidationReport(
        file="a.csv", schema_draft="2020-12", total_rows=errors + 1, invalid_rows=errors,
        errors_by_column={f"c{i}": {"type": errors} for i in range(columns)},
        errors=[CellError(row=i + 2, column="c0", path="/c0", keyword="type", value="x" * 50, message="m")
                for i in range(errors)],
    )


def test_a_report_becomes_a_summary_with_its_first_errors() -> None:
    summary = ValidationSummary.of_report(_report(30), file_checksum="sha256:ab", schema_version=3,
                                          report_uri="file:///r.json", timings={"validate": 0.5})

    assert (summary.state, summary.total_rows, summary.invalid_rows, summary.valid_rows) == ("invalid", 31, 30, 1)
    assert [e.row for e in summary.first_errors] == list(range(2, 22))  # the first 20
    assert (summary.file_checksum, summary.schema_version, summary.report_uri) == ("sha256:ab", 3, "file:///r.json")
    assert summary.timings == {"validate": 0.5} and summary.errors_by_column == {"c0": {"type": 30}}


def test_a_summary_never_outgrows_its_place_in_the_status() -> None:
    wide = ValidationSummary.of_report(_report(20, columns=3000), file_checksum=None, schema_version=1)

    assert len(json.dumps(wide.stored())) <= MAX_STORED_SUMMARY_BYTES
    assert wide.errors_by_column is None and wide.first_errors == []
    assert wide.invalid_rows == 20  # the counts that matter stay


def _status(state: TaskState, **fields: object) -> TaskStatus:
    return TaskStatus(task_id="t1", import_name="users", file_name="a.csv", state=state, created_at=NOW,
                      updated_at=NOW, **fields)


def test_a_status_gives_back_the_summary_it_holds() -> None:
    written = ValidationSummary.of_report(_report(2), file_checksum="sha256:ab", schema_version=4)
    status = _status(TaskState.INVALID, schema_version=4, summary=written.stored(), report_uri="file:///r.json")

    read = ValidationSummary.of_status(status)

    assert read == written.model_copy(update={"task_id": "t1", "import_name": "users", "report_uri": "file:///r.json"})


def test_an_unfinished_task_has_no_result_and_a_failed_one_says_why() -> None:
    assert ValidationSummary.of_status(_status(TaskState.VALIDATING)) is None
    failed = ValidationSummary.of_status(_status(TaskState.FAILED, error="not a CSV file"))
    assert (failed.state, failed.error, failed.total_rows, failed.is_valid) == ("failed", "not a CSV file", 0, False)
