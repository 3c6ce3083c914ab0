"""The quickest start: validate a spreadsheet inside the task, with no service at all.

``SpreadsheetValidateOperator`` in ``mode="local"`` runs the typecheck core in the task
itself against a schema file (no registry, no workers; an empty ``schema_path`` takes
the registry's active schema instead). The invalid rows go to a quarantine file (any
fsspec URI), the small summary goes to XCom, and the ``on_invalid`` param
decides whether invalid rows fail, warn or skip.

The files live in the data directory every Airflow component mounts
(``/opt/airflow/data`` in docker-compose; ``AIRFLOW_VAR_TYPECHECK_DATA_DIR``, read from
the environment at parse time, points elsewhere).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator

# Read from the environment, never from the metadata database, at parse time.
DATA_DIR = os.environ.get("AIRFLOW_VAR_TYPECHECK_DATA_DIR", "/opt/airflow/data").rstrip("/")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["typecheck", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "path": Param(f"{DATA_DIR}/users.csv", type="string", description="path or fsspec URI of the spreadsheet"),
        "schema_path": Param(f"{DATA_DIR}/users.schema.json", type="string",
                             description="a JSON Schema file; empty for the registry's active schema"),
        "quarantine": Param(f"{DATA_DIR}/quarantine/users.invalid.csv", type="string",
                            description="where the invalid rows go"),
        # The sample has invalid rows on purpose: warn by default, and leave them in quarantine.
        "on_invalid": Param("warn", enum=["fail", "warn", "skip"]),
    },
)
def typecheck_local():
    SpreadsheetValidateOperator(
        task_id="validate",
        import_name="users",
        file="{{ params.path }}",
        schema_path="{{ params.schema_path }}",
        mode="local",
        on_invalid="{{ params.on_invalid }}",
        invalid_out="{{ params.quarantine }}",
    )


typecheck_local()
