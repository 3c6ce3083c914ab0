"""The status routes answer from the task's summary alone: a missing report file changes nothing there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from airflow_provider_typecheck.registry.results import ValidationSummary
from airflow_provider_typecheck.settings import TypecheckSettings
from airflow_provider_typecheck.validation.report import CellError, ValidationReport

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("postgres")]
PASSWORD = "status admin password"


@pytest.fixture
def client(redis_prefix: str, postgres_conn: str, pg_test_schema: str, tmp_path: Path) -> Iterator[TestClient]:
    from airflow_provider_typecheck.api.app import create_app

    app = create_app(TypecheckSettings(
        postgres_schema=pg_test_schema, redis_prefix=redis_prefix, storage_uri=(tmp_path / "store").as_uri(),
        jwt_secret=SecretStr("0123456789abcdef0123456789abcdef-status"), first_admin_username="status-admin",
        first_admin_password=SecretStr(PASSWORD),
    ))
    with TestClient(app) as client:
        token = client.post("/api/v1/login/access-token",
                            data={"username": "status-admin", "password": PASSWORD}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.app_services = app.state.services.services  # type: ignore[attr-defined]
        yield client
    app.state.services.services.close()


def test_status_and_list_show_the_first_errors_without_reading_the_report(client: TestClient) -> None:
    services = client.app_services  # type: ignore[attr-defined]
    tasks = services.tasks
    task = tasks.create(import_name="orders", file_name="a.csv", schema_version=2)
    tasks.claim(task.task_id, "run-1", lease_seconds=5)
    tasks.mark_validating(task.task_id)
    report = ValidationReport(file="a.csv", schema_draft="2020-12", total_rows=3, invalid_rows=1,
                              errors_by_column={"age": {"maximum": 1}},
                              errors=[CellError(3, "age", "/age", "maximum", "151", "151 is too big")])
    summary = ValidationSummary.of_report(report, file_checksum="sha256:00", schema_version=2,
                                          report_uri="file:///nowhere/report.json")
    tasks.finish(task.task_id, valid=False, summary=summary, rows_done=3, report_uri=summary.report_uri)
    assert not Path("/nowhere/report.json").exists()  # no report file anywhere: it is never read

    one = client.get("/api/v1/validation/status", params={"task_id": task.task_id}).json()
    listed = client.get("/api/v1/validation/status", params={"import_name": "orders"}).json()

    assert (one["state"], one["summary"]["invalid_rows"], one["summary"]["errors_by_column"]) == (
        "invalid", 1, {"age": {"maximum": 1}})
    assert [(e["row"], e["column"], e["message"]) for e in one["errors"]] == [(3, "age", "151 is too big")]
    assert one["report_uri"] == f"/api/v1/validation/report/{task.task_id}"
    assert listed["count"] == 1 and listed["data"][0] == one
    # The report route does read the report, and says it is missing.
    assert client.get(f"/api/v1/validation/report/{task.task_id}").status_code == 404
