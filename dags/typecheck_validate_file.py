"""Upload a schema, validate a file on the worker pool, branch on the verdict, quarantine, notify.

``SchemaUploadOperator`` stores the schema (a re-run writes nothing: ``unchanged``) and
returns its version; ``SpreadsheetValidateOperator`` pins that version and hands the file
to the ``typecheck worker`` pool, deferring while it waits (the worker slot is free). Its
small XCom decides the branch: valid files go on to ``load``, invalid ones to
``quarantine``, whose invalid rows the worker already wrote to ``params.quarantine``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_typecheck.operators.schema import SchemaUploadOperator
from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator

# The data directory every Airflow component and worker mounts (docker-compose: /opt/airflow/data);
# read from the environment, never from the metadata database, at parse time.
DATA_DIR = os.environ.get("AIRFLOW_VAR_TYPECHECK_DATA_DIR", "/opt/airflow/data").rstrip("/")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["typecheck", "example"],
    # A try lost to Airflow's deferral race (apache/airflow#72716) is retried.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    render_template_as_native_obj=True,
    params={
        "import_name": Param("users", type="string", pattern=r"^[A-Za-z0-9_.-]{1,128}$"),
        "path": Param(f"{DATA_DIR}/users.csv", type="string", description="path or fsspec URI every worker can read"),
        "schema_path": Param(f"{DATA_DIR}/users.schema.json", type="string"),
        "quarantine": Param(f"{DATA_DIR}/quarantine/users.invalid.csv", type="string"),
    },
)
def typecheck_validate_file():
    upload = SchemaUploadOperator(
        task_id="upload_schema", import_name="{{ params.import_name }}", schema_path="{{ params.schema_path }}"
    )
    validate = SpreadsheetValidateOperator(
        task_id="validate",
        import_name="{{ params.import_name }}",
        file="{{ params.path }}",
        schema_version="{{ ti.xcom_pull(task_ids='upload_schema')['version'] }}",
        mode="worker",
        deferrable=True,
        poll_interval=5,
        timeout=3600,
        # Invalid rows are routed below rather than failing the run.
        on_invalid="warn",
        invalid_out="{{ params.quarantine }}",
    )

    @task.branch
    def route(result: dict) -> str:
        return "load" if result["state"] == "valid" else "quarantine"

    @task
    def load(result: dict) -> str:
        return f"{result['total_rows']} rows ready to load"

    @task
    def quarantine(result: dict, params: dict | None = None) -> str:
        return f"{result['invalid_rows']} of {result['total_rows']} rows quarantined in {params['quarantine']}"

    @task(trigger_rule="none_failed_min_one_success")
    def notify(loaded: str | None, quarantined: str | None) -> str:
        return loaded or quarantined or ""

    upload >> validate
    result = validate.output
    loaded, quarantined = load(result), quarantine(result)
    route(result) >> [loaded, quarantined]
    notify(loaded, quarantined)


typecheck_validate_file()
