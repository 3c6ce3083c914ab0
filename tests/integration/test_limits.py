"""The settings' limits reach every entry point: the worker, the operator's local mode, the REST API.

(The CLI's own cases are in tests/acceptance/test_cli_catalogue.py: "schema too big for
the setting", "workbook past the cell setting".) Each test runs the same input twice,
under a limit it passes and under one it does not, so it shows that the setting, and
nothing else, decided.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from airflow_provider_typecheck.jobs.contract import ValidationJob
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings, get_settings
from airflow_provider_typecheck.worker.job import JobRunner

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("postgres")]

# About 2,700 bytes as compact JSON: above a 2,000-byte limit, far below the default.
WIDE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {f"column_{i:03d}": {"type": "string", "maxLength": 100} for i in range(60)},
}
SMALL = 2_000


@pytest.fixture
def settings(redis_prefix: str, postgres_conn: str, pg_test_schema: str, tmp_path: Path) -> TypecheckSettings:
    return TypecheckSettings(
        schema_store="postgres", postgres_schema=pg_test_schema, redis_prefix=redis_prefix,
        storage_uri=(tmp_path / "store").as_uri(), development=True,
    )


@pytest.fixture
def services(settings: TypecheckSettings) -> Iterator[Services]:
    services = Services(settings)
    yield services
    services.close()


def _run_in_worker(services: Services, import_name: str, data: Path) -> Any:
    """One job through the worker's runner, its limits those of ``services``' settings."""
    job = ValidationJob(task_id=uuid.uuid4(), import_name=import_name, schema_version=1, file_uri=data.as_uri(),
                        file_name=data.name)
    services.tasks.create(task_id=str(job.task_id), import_name=import_name, file_name=data.name, schema_version=1)
    runner = JobRunner(services.settings, tasks=services.tasks, schemas=services.schemas, files=services.files,
                       limits=services.limits, interrupt=threading.Event())
    assert runner.handle(job.to_body(), 0).action == "ack"
    return services.tasks.get(str(job.task_id))


def test_the_worker_applies_the_schema_size_setting(
    services: Services, settings: TypecheckSettings, tmp_path: Path
) -> None:
    name = f"limits.{uuid.uuid4().hex[:8]}"
    services.schemas.put(name, WIDE_SCHEMA, new_version=True, actor="test")
    data = tmp_path / "rows.csv"
    data.write_text("column_000\nabc\n")

    accepted = _run_in_worker(services, name, data)
    small = Services(settings.model_copy(update={"max_schema_bytes": SMALL}))
    refused = _run_in_worker(small, name, data)
    small.close()

    assert accepted.state is TaskState.VALID
    assert accepted.summary["file_checksum"].startswith("sha256:")
    assert refused.state is TaskState.FAILED and f"the limit is {SMALL:,}" in refused.error


def test_the_worker_applies_the_workbook_cell_setting(
    services: Services, settings: TypecheckSettings, tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    name = f"limits.{uuid.uuid4().hex[:8]}"
    services.schemas.put(name, {"type": "object"}, new_version=True, actor="test")
    workbook = openpyxl.Workbook()
    for row in range(1, 11):
        workbook.active.append([f"a{row}", f"b{row}"])
    data = tmp_path / "rows.xlsx"
    workbook.save(data)

    accepted = _run_in_worker(services, name, data)
    small = Services(settings.model_copy(update={"max_workbook_cells": 5}))
    refused = _run_in_worker(small, name, data)
    small.close()

    assert accepted.state is TaskState.VALID
    assert refused.state is TaskState.FAILED and "the limit is 5" in refused.error


def test_the_operators_local_mode_applies_the_schema_size_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator
    from airflow_provider_typecheck.services import get_services
    from airflow_provider_typecheck.validation.errors import SchemaError

    data = tmp_path / "rows.csv"
    data.write_text("column_000\nabc\n")

    def run() -> dict[str, Any]:
        get_settings.cache_clear()
        get_services.cache_clear()
        return SpreadsheetValidateOperator(task_id="v", import_name="limits", file=str(data),
                                           schema=WIDE_SCHEMA).execute({})

    try:
        assert run()["state"] == "valid"
        monkeypatch.setenv("TYPECHECK_MAX_SCHEMA_BYTES", str(SMALL))
        with pytest.raises(SchemaError, match=f"the limit is {SMALL:,}"):
            run()
    finally:
        get_settings.cache_clear()


def test_the_apis_schema_upload_applies_the_schema_size_setting(settings: TypecheckSettings) -> None:
    from airflow_provider_typecheck.api.app import create_app

    def upload(max_schema_bytes: int) -> int:
        password = "admin password 123"
        app = create_app(settings.model_copy(update={
            "max_schema_bytes": max_schema_bytes, "jwt_secret": SecretStr("0123456789abcdef0123456789abcdef-limits"),
            "first_admin_username": "limits-admin", "first_admin_password": SecretStr(password),
        }))
        with TestClient(app) as client:
            login = client.post("/api/v1/login/access-token", data={"username": "limits-admin", "password": password})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            answer = client.post(f"/api/v1/schemas/upload/limits.{uuid.uuid4().hex[:8]}", json=WIDE_SCHEMA,
                                 headers=headers)
        app.state.services.services.close()
        return answer.status_code

    assert upload(4 * 1024 * 1024) == 201
    assert upload(SMALL) in (400, 413, 422)


def test_the_cli_applies_the_schema_size_and_cell_settings(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    openpyxl = pytest.importorskip("openpyxl")
    schema = tmp_path / "wide.schema.json"
    schema.write_text(json.dumps(WIDE_SCHEMA))
    workbook = openpyxl.Workbook()
    workbook.active.append(["column_000"])
    workbook.active.append(["abc"])
    data = tmp_path / "rows.xlsx"
    workbook.save(data)
    base = {k: v for k, v in os.environ.items() if not k.startswith("TYPECHECK_")}

    def run(**limits: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "validate", str(data),
                               "--schema", str(schema)], env={**base, **limits}, capture_output=True, text=True,
                              timeout=120)

    assert run().returncode == 0
    small_schema = run(TYPECHECK_MAX_SCHEMA_BYTES=str(SMALL))
    few_cells = run(TYPECHECK_MAX_WORKBOOK_CELLS="1")
    assert (small_schema.returncode, few_cells.returncode) == (2, 2)
    assert f"the limit is {SMALL:,}" in small_schema.stderr and "the limit is 1" in few_cells.stderr
