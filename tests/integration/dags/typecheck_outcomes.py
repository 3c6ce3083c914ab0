"""A test DAG: every outcome of a deferred worker validation in one dag.test() run."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def typecheck_outcomes():
    common = {"import_name": "{{ params.import_name }}", "mode": "worker", "deferrable": True, "poll_interval": 1,
              "timeout": 120, "min_defer_seconds": 0}
    SpreadsheetValidateOperator(task_id="valid", file="{{ params.valid }}", **common)
    for on_invalid in ("fail", "warn", "skip"):
        SpreadsheetValidateOperator(task_id=f"invalid_{on_invalid}", file="{{ params.invalid }}",
                                    on_invalid=on_invalid, **common)
    SpreadsheetValidateOperator(task_id="tolerated", file="{{ params.invalid }}", max_invalid_ratio=0.8, **common)
    SpreadsheetValidateOperator(task_id="failed", file="{{ params.missing }}", **common)
    SpreadsheetValidateOperator(task_id="timed_out", file="{{ params.invalid }}", **{**common, "timeout": 0.001})


typecheck_outcomes()
