"""Operating the pipeline: a worker's metrics and log lines, liveness in /healthcheck, the API's /metrics."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, VALIDATION_QUEUE, declare_topology
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.conftest import RABBITMQ_HOST
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    amqp,
    job_env,
    import_name,
    job_settings,
    services_for,
    start_worker,
    states,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration("rabbitmq")

ADMIN, ADMIN_PASSWORD = "ops-admin", "a-long-admin-password-for-tests"
JWT_SECRET = "ops-test-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _samples(text: str) -> dict[str, float]:
    """Prometheus' text format as {'name{labels}': value}."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_a_worker_counts_its_jobs_and_logs_one_json_line_each(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    port = _free_port()
    worker = start_worker("--metrics-port", str(port), "--log-format", "json")
    good = write_csv(tmp_path / "good.csv", ["1,ann,30", "2,bob,40"])
    bad = write_csv(tmp_path / "bad.csv", ["1,ann,30", "x,bob,200", "3,,5"])
    missing = (tmp_path / "missing.csv").as_uri()
    publisher = services_for(job_settings)
    task_ids = [publisher.publish_validation(import_name, f).task_id for f in (good.as_uri(), bad.as_uri(), missing)]
    wait_for(lambda: all(h.get("state") in {"valid", "invalid", "failed"}
                         for h in states(job_settings, task_ids).values()), timeout=60, what="the jobs")

    metrics = wait_for(lambda: (m := _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text))
                       .get('typecheck_jobs_finished_total{state="failed"}') and m, timeout=10, what="metrics")
    assert [metrics[f'typecheck_jobs_finished_total{{state="{s}"}}'] for s in ("valid", "invalid", "failed")] == [
        1, 1, 1]
    assert metrics["typecheck_job_rows_count"] == 2 and metrics["typecheck_job_rows_sum"] == 5
    assert metrics["typecheck_job_duration_seconds_count"] == 3
    assert metrics["typecheck_job_peak_rss_bytes_count"] == 3 and metrics["typecheck_job_peak_rss_bytes_sum"] > 0
    assert metrics["typecheck_job_bytes_count"] == 2
    assert metrics["typecheck_jobs_in_flight"] == 0
    assert metrics["typecheck_worker_reconnects_total"] == 0

    lines = worker.log().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    jobs = {r["task_id"]: r for r in records if r.get("message", "").startswith("job ")}
    assert sorted(jobs) == sorted(task_ids)
    assert [(jobs[t]["state"], jobs[t]["rows"], jobs[t]["invalid_rows"]) for t in task_ids] == [
        ("valid", 2, 0), ("invalid", 3, 2), ("failed", None, None)]
    assert all(jobs[t]["import_name"] == import_name and jobs[t]["duration_seconds"] >= 0 for t in task_ids)
    assert not any(r["logger"].startswith("pika") and r["level"] == "INFO" for r in records)


def test_a_worker_serves_metrics_only_on_a_usable_port() -> None:
    done = subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "worker", "--metrics-port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--metrics-port must be 1 to 65535" in done.stderr


@pytest.fixture
def app_client(job_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # noqa: F811
    """The REST API in this process, on this test's stores, logged in as an admin."""
    from fastapi.testclient import TestClient

    from airflow_provider_typecheck.api import create_app

    from airflow_provider_typecheck.registry.models import UserCreate
    from airflow_provider_typecheck.services import Services

    for name, value in {"TYPECHECK_JWT_SECRET": JWT_SECRET, "TYPECHECK_FIRST_ADMIN_USERNAME": ADMIN,
                        "TYPECHECK_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD}.items():
        monkeypatch.setenv(name, value)
    settings = TypecheckSettings()
    # An admin of this test's own: the session's PostgreSQL schema may hold another admin
    # already, and the first-admin setting then creates none.
    admin = f"{ADMIN}-{uuid.uuid4().hex[:8]}"
    services = Services(settings)
    services.users.create(UserCreate(username=admin, password=ADMIN_PASSWORD, role="admin"))
    services.close()
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/login/access-token", data={"username": admin, "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def test_jobs_waiting_with_no_live_worker_make_the_healthcheck_degraded(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    app_client: Any, tmp_path: Path,
) -> None:
    assert app_client.get("/api/v1/healthcheck").json()["workers"] == {
        "status": "ok", "alive": 0, "jobs_waiting": 0, "dead_letters": 0}
    good = write_csv(tmp_path / "good.csv", ["1,ann,30"])
    task_id = services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id

    stranded = app_client.get("/api/v1/healthcheck")
    assert stranded.status_code == 503
    assert stranded.json()["status"] == "degraded"
    assert stranded.json()["workers"] == {"status": "down", "alive": 0, "jobs_waiting": 1, "dead_letters": 0}
    assert {s["status"] for s in stranded.json()["services"].values()} == {"ok"}  # every service answers

    start_worker()
    wait_for(lambda: states(job_settings, [task_id])[task_id].get("state") == "valid", timeout=60, what="the job")
    healthy = app_client.get("/api/v1/healthcheck")
    assert healthy.status_code == 200 and healthy.json()["workers"] == {
        "status": "ok", "alive": 1, "jobs_waiting": 0, "dead_letters": 0}


def test_the_api_serves_the_pipeline_and_its_requests_as_metrics(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, app_client: Any,  # noqa: F811
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = write_csv(tmp_path / "good.csv", ["1,ann,30"])
    services_for(job_settings).publish_validation(import_name, good.as_uri())
    task_id = uuid.uuid4().hex
    app_client.get("/api/v1/validation/status", params={"task_id": task_id})  # a 404, by its template
    services_for(job_settings).tasks.heartbeat("elsewhere:1", alive_seconds=30)

    response = app_client.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    metrics = _samples(response.text)
    assert metrics[f'typecheck_queue_messages{{queue="{VALIDATION_QUEUE}"}}'] == 1
    assert metrics[f'typecheck_queue_messages{{queue="{DEAD_LETTER_QUEUE}"}}'] == 0
    assert metrics['typecheck_tasks{state="queued"}'] == 1
    assert metrics["typecheck_workers_alive"] == 1
    assert metrics['typecheck_service_up{service="rabbitmq"}'] == metrics['typecheck_service_up{service="redis"}'] == 1
    assert metrics['typecheck_http_requests_total{method="GET",route="/api/v1/validation/status",status="404"}'] == 1
    assert any(name.startswith("typecheck_schema_cache_lookups_total") for name in metrics)
    # Nothing a user sent becomes a label: no task id, no import name, no file name.
    assert task_id not in response.text and import_name not in response.text and "good.csv" not in response.text


def test_metrics_can_require_a_token_of_their_own(
    job_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    from fastapi.testclient import TestClient

    from airflow_provider_typecheck.api import create_app

    monkeypatch.setenv("TYPECHECK_METRICS_TOKEN", "scrape-token-0123456789")
    client = TestClient(create_app(TypecheckSettings()))

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}).status_code == 200


def test_a_queue_declared_with_the_old_delivery_limit_is_used_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    import pika

    vhost = f"typecheck_ops_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)
        connection = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}"))
        channel = connection.channel()
        declare_topology(channel, delivery_limit=3)  # as versions before this one did

        assert declare_topology(channel) == 3  # no PRECONDITION_FAILED: the queue is used, with a warning
        assert "declared with x-delivery-limit 3" in caplog.text and "docs/operations.md" in caplog.text
        assert channel.is_open and channel.queue_declare(VALIDATION_QUEUE, passive=True)
        connection.close()
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True, capture_output=True, timeout=60)


def test_the_api_server_logs_json_lines_uvicorns_included(
    job_env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    from tests.integration.api_support import free_port, start_cli, stop_process, wait_http

    env = {**job_env, "TYPECHECK_JWT_SECRET": JWT_SECRET, "TYPECHECK_FIRST_ADMIN_USERNAME": ADMIN,
           "TYPECHECK_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD}
    port, log = free_port(), tmp_path / "api.log"
    process = start_cli(["api", "--host", "127.0.0.1", "--port", str(port), "--log-format", "json"], env, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/healthcheck/simple", process, log, timeout=120)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).status_code == 200
    finally:
        stop_process(process)

    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is one JSON object
    assert any(r["logger"] == "uvicorn.error" and "Uvicorn running" in r["message"] for r in records)
    assert any(r["logger"] == "uvicorn.access" and "GET /metrics" in r["message"] for r in records)
