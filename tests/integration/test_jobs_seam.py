"""The seam other layers build on: the job contract, topology, file store, publish and cancel."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs import JobOptions, PublishError
from airflow_provider_typecheck.jobs.contract import InvalidJob, ValidationJob, parse_job
from airflow_provider_typecheck.jobs.filestore import (
    FileStore,
    ReportNotFound,
    UploadTooLarge,
    file_checksum,
    safe_file_name,
)
from airflow_provider_typecheck.jobs.rabbitmq import amqp_parameters
from airflow_provider_typecheck.jobs.topology import (
    DEAD_LETTER_QUEUE,
    VALIDATION_QUEUE,
    declare_topology,
    event_routing_key,
)
from airflow_provider_typecheck.registry.errors import SchemaNotFound, TaskNotFound
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import USERS_SCHEMA, amqp, job_env, job_settings, services_for  # noqa: F401

JOB = {
    "v": 1,
    "task_id": "6f1c2b0e-8d4e-4a53-9b7e-2f0f6c1d9a10",
    "import_name": "users",
    "schema_version": 2,
    "file_uri": "file:///srv/typecheck/uploads/3a/users.csv",
    "file_name": "users.csv",
    "options": {"max_errors": 100, "write_invalid_rows": True},
    "submitted_by": "alice",
    "submitted_at": "2026-12-03T07:00:00Z",
}


# --- contract -------------------------------------------------------------------------


def test_a_job_round_trips_through_its_message() -> None:
    job = parse_job(json.dumps(JOB).encode())

    assert (str(job.task_id), job.schema_version, job.options.max_errors) == (JOB["task_id"], 2, 100)
    assert job.options.write_invalid_rows and not job.options.write_valid_rows
    assert parse_job(job.to_body()) == job


@pytest.mark.parametrize(
    ("body", "reason", "names_task"),
    [
        (b"\xff\xfe not json", "message is not JSON", False),
        (b"[1, 2]", "message is a JSON list, not an object", False),
        (json.dumps({**JOB, "v": 3}).encode(), "unknown job contract version 3", True),
        (json.dumps({**JOB, "v": 2}).encode(), "invalid job: part: Field required", True),  # a part without its range
        (json.dumps({k: v for k, v in JOB.items() if k != "v"}).encode(), "unknown job contract version None", True),
        (json.dumps({**JOB, "schema_version": 0}).encode(), "invalid job: schema_version", True),
        (json.dumps({**JOB, "import_name": "a/b"}).encode(), "invalid job: import_name", True),
        (json.dumps({**JOB, "options": {"max_errors": 5, "colour": "red"}}).encode(), "invalid job: options.colour", True),
        (json.dumps({**JOB, "task_id": "nope"}).encode(), "invalid job: task_id", False),
        (b" " * 70_000, "larger than", False),
    ],
)
def test_a_message_that_is_not_a_job_is_refused_with_a_reason(body: bytes, reason: str, names_task: bool) -> None:
    with pytest.raises(InvalidJob) as refused:
        parse_job(body)

    assert reason in refused.value.reason
    assert (refused.value.task_id == JOB["task_id"]) is names_task


def test_event_routing_keys_name_state_and_import() -> None:
    assert event_routing_key("invalid", "orders.eu") == "validation.invalid.orders.eu"


def test_rabbitmq_connection_fields_become_pika_parameters() -> None:
    plain = amqp_parameters(host="mq", port=None, login="u", password="p", vhost="jobs", extra={"heartbeat": "15"}).pika()
    tls = amqp_parameters(host="mq", port=None, login="u", password="p", vhost=None, extra={"ssl": "true"}).pika()

    assert (plain.host, plain.port, plain.virtual_host, plain.heartbeat, plain.ssl_options) == ("mq", 5672, "jobs", 15, None)
    assert (plain.credentials.username, plain.credentials.password) == ("u", "p")
    assert (tls.port, tls.virtual_host, tls.ssl_options is not None) == (5671, "/", True)


def test_a_rabbitmq_uri_setting_replaces_the_airflow_connection() -> None:
    settings = TypecheckSettings(rabbitmq_uri="amqps://u%40x:p%2Fw@mq.example:5999/jobs%2Fa?heartbeat=7")
    parameters = Services(settings).rabbitmq_parameters

    assert (parameters.host, parameters.port, parameters.virtual_host, parameters.heartbeat) == (
        "mq.example", 5999, "jobs/a", 7)
    assert (parameters.credentials.username, parameters.credentials.password) == ("u@x", "p/w")
    assert parameters.ssl_options is not None and "p/w" not in repr(settings)


# --- topology -------------------------------------------------------------------------


@pytest.mark.integration("rabbitmq")
def test_the_topology_can_be_declared_again_and_again(amqp: Any) -> None:  # noqa: F811
    declare_topology(amqp)
    declare_topology(amqp)

    queue = amqp.queue_declare(VALIDATION_QUEUE, passive=True)
    dead = amqp.queue_declare(DEAD_LETTER_QUEUE, passive=True)
    assert (queue.method.message_count, dead.method.message_count) == (0, 0)


# --- file store -----------------------------------------------------------------------


class _CountingStream(io.BytesIO):
    """A stream that records how much any one read asked for."""

    largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest_read = max(self.largest_read, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def test_uploads_stream_in_chunks_into_the_store(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri())
    payload = b"id,name\n" + b"1,x\n" * 700_000  # about 2.8 MB: several chunks
    stream = _CountingStream(payload)

    upload = store.save_upload(stream, "../../etc/report 2024.csv")
    uri = upload.uri
    expected = f"sha256:{hashlib.sha256(payload).hexdigest()}"
    assert (upload.size, upload.checksum, file_checksum(uri)) == (len(payload), expected, expected)

    assert uri.startswith(tmp_path.as_uri() + "/uploads/") and uri.endswith("/report 2024.csv")
    assert store.exists(uri) and store.size(uri) == len(payload)
    with store.open(uri) as handle:
        assert handle.read() == payload
    assert stream.largest_read <= 1024 * 1024
    assert store.local_path(uri) == str(Path(uri.removeprefix("file://")))


def test_an_upload_past_the_limit_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri())

    with pytest.raises(UploadTooLarge, match="larger than 1000 bytes"):
        store.save_upload(io.BytesIO(b"x" * 5000), "big.csv", max_bytes=1000)

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert store.exists(store.save_upload(io.BytesIO(b"x" * 1000), "fits.csv", max_bytes=1000).uri)


def test_reports_are_written_whole_and_read_back(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri())
    with pytest.raises(ReportNotFound):
        store.read_report("t1")

    uri = store.write_report("t1", {"total_rows": 3, "errors": []})

    assert uri == store.report_uri("t1") and store.read_report("t1") == {"total_rows": 3, "errors": []}
    assert store.invalid_rows_uri("t1").endswith("/reports/t1.invalid.csv")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["t1.json"]


def test_the_default_store_is_under_the_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = services_for(TypecheckSettings(storage_uri="")).files

    store.ping()

    assert store.root_uri == (tmp_path / "typecheck").as_uri() and (tmp_path / "typecheck").is_dir()


def test_client_file_names_cannot_escape_the_store() -> None:
    assert [safe_file_name(n) for n in ["a/../../b.csv", "C:\\x\\y.xlsx", "..", "é<>.csv"]] == [
        "b.csv", "y.xlsx", "upload", "_.csv"]


# --- publish and cancel ---------------------------------------------------------------


@pytest.fixture
def users_schema(job_settings: TypecheckSettings) -> str:  # noqa: F811
    import_name = f"users_{uuid.uuid4().hex[:8]}"
    store = services_for(job_settings).schemas
    store.put(import_name, USERS_SCHEMA, new_version=True, actor="test")
    store.put(import_name, {**USERS_SCHEMA, "required": ["id"]}, new_version=True, actor="test")
    return import_name


@pytest.mark.integration("rabbitmq")
def test_publish_records_queued_and_the_broker_holds_a_persistent_v1_job(
    amqp: Any, job_settings: TypecheckSettings, users_schema: str, tmp_path: Path  # noqa: F811
) -> None:
    data = tmp_path / "u.csv"
    data.write_text("id,name\n1,a\n")

    task_id = services_for(job_settings).publish_validation(users_schema, data.as_uri(), submitted_by="alice").task_id
    pinned = services_for(job_settings).publish_validation(users_schema, data.as_uri(), schema_version=1,
                                options=JobOptions(write_invalid_rows=True)).task_id

    status = services_for(job_settings).tasks.get(task_id)
    assert (status.state, status.schema_version, status.file_name, status.file_size) == (
        TaskState.QUEUED, 2, "u.csv", data.stat().st_size)
    messages = []
    for _ in range(2):
        method, properties, body = amqp.basic_get(VALIDATION_QUEUE, auto_ack=True)
        messages.append((properties, parse_job(body)))
    assert [(str(job.task_id), job.schema_version, job.submitted_by) for _, job in messages] == [
        (task_id, 2, "alice"), (pinned, 1, None)]
    assert messages[1][1].options.write_invalid_rows
    assert all(p.delivery_mode == 2 and p.message_id == str(j.task_id) for p, j in messages)


@pytest.mark.integration("rabbitmq")
def test_an_unknown_schema_is_refused_before_anything_is_queued(
    amqp: Any, job_settings: TypecheckSettings, users_schema: str  # noqa: F811
) -> None:
    with pytest.raises(SchemaNotFound):
        services_for(job_settings).publish_validation("no_such_import", "file:///x.csv").task_id
    with pytest.raises(SchemaNotFound):
        services_for(job_settings).publish_validation(users_schema, "file:///x.csv", schema_version=9).task_id

    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0
    assert services_for(job_settings).tasks.for_import(users_schema) == []


@pytest.mark.integration("rabbitmq")
def test_a_publish_the_broker_never_confirms_fails_its_task(
    monkeypatch: pytest.MonkeyPatch, job_env: dict[str, str], users_schema: str  # noqa: F811
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RABBITMQ_DEFAULT", "amqp://guest:guest@127.0.0.1:1/%2F")
    settings = TypecheckSettings(development=True)  # a distinct settings object: its own publisher

    with pytest.raises(PublishError, match="RabbitMQ is unreachable"):
        services_for(settings).publish_validation(users_schema, "file:///x.csv").task_id

    [task] = services_for(settings).tasks.for_import(users_schema)
    assert task.state is TaskState.FAILED and task.error.startswith("the job could not be queued: RabbitMQ is unreachable")


@pytest.mark.integration("rabbitmq")
def test_a_dropped_publisher_connection_is_replaced(
    amqp: Any, job_settings: TypecheckSettings, users_schema: str  # noqa: F811
) -> None:
    services_for(job_settings).publish_validation(users_schema, "file:///a.csv").task_id
    services_for(job_settings).publisher._connection.close()  # as a broker restart would

    services_for(job_settings).publish_validation(users_schema, "file:///b.csv").task_id

    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 2


@pytest.mark.integration("rabbitmq")
def test_cancel_fails_an_unfinished_task_and_leaves_a_finished_one(
    amqp: Any, job_settings: TypecheckSettings, users_schema: str  # noqa: F811
) -> None:
    tasks = services_for(job_settings).tasks
    queued = services_for(job_settings).publish_validation(users_schema, "file:///a.csv").task_id
    done = services_for(job_settings).publish_validation(users_schema, "file:///b.csv").task_id
    tasks.claim(done, "run-1", lease_seconds=5)
    tasks.mark_validating(done)
    tasks.finish(done, valid=True, summary={"total_rows": 1})

    services_for(job_settings).cancel_validation(queued, reason="the DAG run was stopped")
    services_for(job_settings).cancel_validation(done)

    assert (tasks.get(queued).state, tasks.get(queued).error) == (TaskState.FAILED, "the DAG run was stopped")
    assert tasks.get(done).state is TaskState.VALID
    with pytest.raises(TaskNotFound):
        services_for(job_settings).cancel_validation(str(uuid.uuid4()))


def test_jobs_carry_no_file_bytes() -> None:
    assert set(ValidationJob.model_fields) == {
        "v", "task_id", "import_name", "schema_version", "file_uri", "file_name", "options", "submitted_by",
        "submitted_at"}


# --- the worker command's surface ------------------------------------------------------


def _typecheck(*args: str, env: dict[str, str]) -> Any:
    return subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_worker_help_lists_its_connections_and_settings() -> None:
    result = _typecheck("worker", "--help", env=dict(os.environ))

    assert result.returncode == 0
    for name in ("--concurrency", "--prefetch", "AIRFLOW_CONN_RABBITMQ_DEFAULT", "AIRFLOW_CONN_REDIS_DEFAULT",
                 "TYPECHECK_STORAGE_URI", "TYPECHECK_DELIVERY_LIMIT", "TYPECHECK_WORKER_LEASE_SECONDS"):
        assert name in result.stdout


def test_a_worker_without_a_rabbitmq_connection_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "TYPECHECK_"))}
    env["AIRFLOW_HOME"] = str(tmp_path)
    result = _typecheck("worker", env=env)
    bad = _typecheck("worker", "--prefetch", "0", env=env)

    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (
        2, "typecheck: error: RabbitMQ connection: The conn_id `rabbitmq_default` isn't defined")
    assert (bad.returncode, bad.stderr.strip()) == (2, "typecheck: error: --concurrency and --prefetch must be 1 or more")
