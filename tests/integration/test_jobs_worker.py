"""A real ``typecheck worker`` process on real RabbitMQ, Redis and PostgreSQL: each kind of outcome."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs import JobOptions
from airflow_provider_typecheck.jobs.filestore import ReportNotFound
from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, REASON_HEADER, VALIDATION_QUEUE
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    amqp,
    bind_events,
    drain,
    events_by_task,
    job_env,
    final_status,
    import_name,
    job_settings,
    publish_raw,
    start_worker,
    wait_for,
    services_for,
    write_csv,
)

pytestmark = pytest.mark.integration("rabbitmq")


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
        "valid": services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id,
        "invalid": services_for(job_settings).publish_validation(import_name, bad.as_uri(),
                                      options=JobOptions(write_invalid_rows=True, max_errors=2)).task_id,
        "corrupt": services_for(job_settings).publish_validation(import_name, corrupt.as_uri()).task_id,
        "missing": services_for(job_settings).publish_validation(import_name, (tmp_path / "gone.csv").as_uri()).task_id,
    }
    services_for(job_settings).schemas.put(import_name, {**USERS_SCHEMA, "required": ["id"]}, new_version=True,
                                          actor="test")
    store = services_for(job_settings).schemas
    submitted["unknown schema"] = services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id
    store.remove(import_name)  # version 2 is gone before any worker sees its job

    start_worker()
    final = {kind: final_status(job_settings, task_id) for kind, task_id in submitted.items()}

    files = services_for(job_settings).files
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
    # A newer publisher recorded its task and sent a v3 job this worker cannot read.
    later = str(uuid.uuid4())
    status = services_for(job_settings).tasks.create(
        task_id=later, import_name=import_name, file_name="good.csv", schema_version=1)
    newer = {"v": 3, "task_id": later, "import_name": import_name, "file_uri": good.as_uri()}
    publish_raw(amqp, json.dumps(newer).encode())
    publish_raw(amqp, b"\x00garbage")
    after = services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id

    start_worker()

    assert final_status(job_settings, after).state is TaskState.VALID  # the worker went on after both
    failed = final_status(job_settings, later)
    assert failed.state is TaskState.FAILED and "unknown job contract version 3" in failed.error
    assert status.state is TaskState.QUEUED
    dead = wait_for(lambda: drain(amqp, DEAD_LETTER_QUEUE) or None, timeout=10, what="dead letters")
    reasons = sorted(props.headers[REASON_HEADER] for _, props, _ in dead)
    assert len(reasons) == 2 and reasons[0].startswith("message is not JSON")
    assert reasons[1].startswith("unknown job contract version 3")


def test_a_cancelled_job_is_skipped_when_it_arrives(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    good = write_csv(tmp_path / "good.csv", ["1,ann,30"])
    task_id = services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id
    services_for(job_settings).cancel_validation(task_id, reason="stopped by the DAG")
    marker = services_for(job_settings).publish_validation(import_name, good.as_uri()).task_id

    start_worker()
    final_status(job_settings, marker)

    status = services_for(job_settings).tasks.get(task_id)
    assert (status.state, status.error, status.attempts) == (TaskState.FAILED, "stopped by the DAG", 0)
    announced = events_by_task(amqp, events)
    assert [e["summary"] for e in announced[task_id]] == [{"error": "stopped by the DAG"}]


def test_heartbeats_flow_while_a_long_file_is_validated(
    amqp: Any, job_env: dict[str, str], job_settings: TypecheckSettings, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    # A lookahead is outside the regex core Rust and Python share: python re decides each
    # of 1,200,000 distinct names, seconds of work in one job against a 1 s heartbeat.
    slow = f"slow_{uuid.uuid4().hex[:8]}"
    schema = {**USERS_SCHEMA, "properties": {**USERS_SCHEMA["properties"],
                                             "name": {"type": "string", "pattern": "^(?=n)n[0-9]+$"}}}
    services_for(job_settings).schemas.put(slow, schema, new_version=True, actor="test")
    data = tmp_path / "long.csv"
    data.write_text("id,name,age\n" + "".join(f"{i},n{i},{i % 100}\n" for i in range(1_200_000)))
    worker = start_worker(env={"AIRFLOW_CONN_RABBITMQ_DEFAULT": job_env["AIRFLOW_CONN_RABBITMQ_DEFAULT"]
                               + "?heartbeat=1"})
    task_id = services_for(job_settings).publish_validation(slow, data.as_uri()).task_id

    final = final_status(job_settings, task_id, timeout=120)

    assert (final.state, final.attempts, final.rows_done) == (TaskState.VALID, 1, 1_200_000)
    assert final.summary["fallback_keywords"] == ["pattern"]
    assert final.summary["elapsed_seconds"] > 2  # the broker drops a connection silent for 2 heartbeats
    assert "connection lost" not in worker.log()
    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0
