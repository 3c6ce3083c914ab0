"""The quickest start: validate a spreadsheet inside the task, with no service at all.

``SpreadsheetValidateOperator`` in ``mode="local"`` runs the typecheck core in the task
itself against a schema file (no registry, no workers). The invalid rows go to a
quarantine file beside the data (any fsspec URI), the small summary goes to XCom, and
``on_invalid`` (a param here) decides whether invalid rows fail, warn or skip.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["typecheck", "example"],
    params={
        "path": Param(str(EXAMPLES / "users.csv"), type="string", description="path or fsspec URI of the spreadsheet"),
        "schema_path": Param(str(EXAMPLES / "users.schema.json"), type="string"),
    },
)
def typecheck_local():
    SpreadsheetValidateOperator(
        task_id="validate",
        import_name="users",
        file="{{ params.path }}",
        schema_path="{{ params.schema_path }}",
        mode="local",
        # The sample has invalid rows on purpose: warn, and leave them in quarantine.
        on_invalid="warn",
        invalid_out="{{ params.path.rsplit('.', 1)[0] }}.invalid.csv",
    )


typecheck_local()
