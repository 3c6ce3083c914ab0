"""A real ``typecheck worker`` process on real RabbitMQ, Redis and PostgreSQL: each kind of outcome."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs import JobOptions, cancel_validation, publish_validation
from airflow_provider_typecheck.jobs.filestore import FileStore, ReportNotFound
from airflow_provider_typecheck.jobs.publish import cached_schema_store
from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, REASON_HEADER, VALIDATION_QUEUE
from airflow_provider_typecheck.registry.models import TaskState, TaskStatus
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    amqp,
    bind_events,
    drain,
    events_by_task,
    job_env,
    job_settings,
    publish_raw,
    start_worker,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration("rabbitmq")


@pytest.fixture
def import_name(job_settings: TypecheckSettings) -> str:  # noqa: F811
    name = f"users_{uuid.uuid4().hex[:8]}"
    cached_schema_store(job_settings).put(name, USERS_SCHEMA, new_version=True, actor="test")
    return name


def _final(settings: TypecheckSettings, task_id: str, timeout: float = 60) -> TaskStatus:
    tasks = TaskStatusStore.from_settings(settings)

    def finished() -> TaskStatus | None:
        status = tasks.get(task_id)
        return status if status.state.finished else None

    return wait_for(finished, timeout=timeout, what=f"task {task_id} to finish")


def test_valid_invalid_and_failed_jobs_end_right(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    good = write_csv(tmp_path / "good.csv", ["1,ann,30", "2,bob,40"])
    bad = write_csv(tmp_path / "bad.csv", ["1,ann,30", "x,bob,200", "3,,5"])
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is no workbook")
    submitted = {
        "valid": publish_validation(import_name, good.as_uri(), settings=job_settings),
        "invalid": publish_validation(import_name, bad.as_uri(), settings=job_settings,
                                      options=JobOptions(write_invalid_rows=True, max_errors=2)),
        "corrupt": publish_validation(import_name, corrupt.as_uri(), settings=job_settings),
        "missing": publish_validation(import_name, (tmp_path / "gone.csv").as_uri(), settings=job_settings),
    }
    cached_schema_store(job_settings).put(import_name, {**USERS_SCHEMA, "required": ["id"]}, new_version=True,
                                          actor="test")
    store = cached_schema_store(job_settings)
    submitted["unknown schema"] = publish_validation(import_name, good.as_uri(), settings=job_settings)
    store.remove(import_name)  # version 2 is gone before any worker sees its job

    start_worker()
    final = {kind: _final(job_settings, task_id) for kind, task_id in submitted.items()}

    files = FileStore.from_settings(job_settings)
    valid, invalid = final["valid"], final["invalid"]
    assert (valid.state, valid.rows_done, valid.rows_total, valid.percent) == (TaskState.VALID, 2, 2, 100.0)
    assert (valid.summary["total_rows"], valid.summary["invalid_rows"], valid.summary["first_errors"]) == (2, 0, [])
    assert valid.report_uri == files.report_uri(valid.task_id)
    assert files.read_report(valid.task_id)["valid_rows"] == 2

    assert invalid.state is TaskState.INVALID
    assert (invalid.summary["total_rows"], invalid.summary["invalid_rows"]) == (3, 2)
    assert invalid.summary["errors_by_column"] == {"id": {"type": 1}, "age": {"maximum": 1}, "": {"required": 1}}
    assert [(e["row"], e["column"]) for e in invalid.summary["first_errors"]] == [(3, "id"), (3, "age")]
    report = files.read_report(invalid.task_id)
    assert (report["task_id"], report["import_name"], report["schema_version"]) == (invalid.task_id, import_name, 1)
    assert report["errors_truncated"] and len(report["errors"]) == 2
    with files.open(files.invalid_rows_uri(invalid.task_id)) as rows:
        assert rows.read().decode().splitlines()[1:] == ["3,x,bob,200,id:type; age:maximum", "4,3,,5,:required"]

    for kind, needle in [("corrupt", "corrupt.xlsx"), ("missing", "does not exist"),
                         ("unknown schema", "schema version 2 of")]:
        status = final[kind]
        assert status.state is TaskState.FAILED, (kind, status)
        assert needle in status.error, (kind, status.error)
        with pytest.raises(ReportNotFound):
            files.read_report(status.task_id)

    announced = events_by_task(amqp, events)
    assert {task_id: [e["state"] for e in found] for task_id, found in announced.items()} == {
        final[kind].task_id: [final[kind].state.value] for kind in submitted}
    assert announced[invalid.task_id][0]["summary"]["invalid_rows"] == 2
    assert announced[final["missing"].task_id][0]["summary"]["error"] == final["missing"].error
    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0


def test_messages_that_are_not_jobs_are_dead_lettered_with_a_reason(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    good = write_csv(tmp_path / "good.csv", ["1,ann,30"])
    # A newer publisher recorded its task and sent a v2 job this worker cannot read.
    later = str(uuid.uuid4())
    status = TaskStatusStore.from_settings(job_settings).create(
        task_id=later, import_name=import_name, file_name="good.csv", schema_version=1)
    newer = {"v": 2, "task_id": later, "import_name": import_name, "file_uri": good.as_uri()}
    publish_raw(amqp, json.dumps(newer).encode())
    publish_raw(amqp, b"\x00garbage")
    after = publish_validation(import_name, good.as_uri(), settings=job_settings)

    start_worker()

    assert _final(job_settings, after).state is TaskState.VALID  # the worker went on after both
    failed = _final(job_settings, later)
    assert failed.state is TaskState.FAILED and "unknown job contract version 2" in failed.error
    assert status.state is TaskState.QUEUED
    dead = wait_for(lambda: drain(amqp, DEAD_LETTER_QUEUE) or None, timeout=10, what="dead letters")
    reasons = sorted(props.headers[REASON_HEADER] for _, props, _ in dead)
    assert len(reasons) == 2 and reasons[0].startswith("message is not JSON")
    assert reasons[1].startswith("unknown job contract version 2")


def test_a_cancelled_job_is_skipped_when_it_arrives(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    good = write_csv(tmp_path / "good.csv", ["1,ann,30"])
    task_id = publish_validation(import_name, good.as_uri(), settings=job_settings)
    cancel_validation(task_id, reason="stopped by the DAG", settings=job_settings)
    marker = publish_validation(import_name, good.as_uri(), settings=job_settings)

    start_worker()
    _final(job_settings, marker)

    status = TaskStatusStore.from_settings(job_settings).get(task_id)
    assert (status.state, status.error, status.attempts) == (TaskState.FAILED, "stopped by the DAG", 0)
    announced = events_by_task(amqp, events)
    assert [e["summary"] for e in announced[task_id]] == [{"error": "stopped by the DAG"}]
