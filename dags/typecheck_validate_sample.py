"""Validate a spreadsheet with the typecheck core from a TaskFlow task.

The provider's own operators (``SpreadsheetValidateOperator`` and friends)
are the next milestone; until then this is how a DAG runs the core: one
task validates the file, writes the invalid rows to a quarantine file next to
it, and returns the small JSON summary, which lands in XCom. The task fails
when rows are invalid, so downstream loads only ever see clean files.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

SAMPLE = Path(__file__).resolve().parents[1] / "examples"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["typecheck", "example"],
    render_template_as_native_obj=True,
    params={
        "path": Param(str(SAMPLE / "users.csv"), type="string", description="path or fsspec URI of the spreadsheet"),
        "schema_path": Param(str(SAMPLE / "users.schema.json"), type="string"),
        "fail_on_invalid": Param(True, type="boolean"),
    },
)
def typecheck_validate_sample():
    @task
    def validate(path: str, schema_path: str, fail_on_invalid: bool) -> dict:
        # Imported in the task, not at parse time: the DAG file stays cheap to parse.
        from airflow_provider_typecheck.validation import load_schema, validate_file

        # The quarantine file sits beside the data, local or remote (any fsspec URI).
        quarantine = f"{path.rsplit('.', 1)[0]}.invalid.csv"
        report = validate_file(path, load_schema(schema_path), invalid_out=quarantine)
        summary = report.summary()
        if fail_on_invalid and not report.is_valid:
            raise ValueError(
                f"{report.invalid_rows} of {report.total_rows} rows of {path} are invalid; "
                f"they are in {quarantine}. Counts: {summary['errors_by_column']}"
            )
        return summary

    validate("{{ params.path }}", "{{ params.schema_path }}", "{{ params.fail_on_invalid }}")


typecheck_validate_sample()
