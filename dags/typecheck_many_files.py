"""Validate every spreadsheet of a folder at once: one mapped task per file, then a summary.

The files are listed at run time (any fsspec URI: a local folder, ``s3://bucket/in/``),
and ``SpreadsheetValidateOperator.partial(...).expand(file=...)`` hands each one to the
worker pool; every mapped task defers, so a hundred files hold no worker slot while the
pool works. ``on_invalid="warn"`` lets the summary see every verdict.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

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
    params={
        "import_name": Param("users", type="string"),
        "folder": Param(DATA_DIR, type="string", description="folder (path or fsspec URI) of the CSV files"),
    },
)
def typecheck_many_files():
    @task
    def list_files(params: dict | None = None) -> list[str]:
        import fsspec

        fs, root = fsspec.core.url_to_fs(params["folder"])
        found = sorted(fs.glob(f"{root.rstrip('/')}/*.csv"))
        return [fs.unstrip_protocol(path) if "://" in params["folder"] else path for path in found]

    validated = SpreadsheetValidateOperator.partial(
        task_id="validate",
        import_name="{{ params.import_name }}",
        mode="worker",
        deferrable=True,
        poll_interval=5,
        timeout=3600,
        on_invalid="warn",
    ).expand(file=list_files())

    @task
    def summarize(results: list[dict]) -> dict:
        results = list(results)
        return {
            "files": len(results),
            "valid_files": sum(r["state"] == "valid" for r in results),
            "total_rows": sum(r["total_rows"] for r in results),
            "invalid_rows": sum(r["invalid_rows"] for r in results),
        }

    summarize(validated.output)


typecheck_many_files()
