"""SpreadsheetValidateOperator in worker mode: publish, defer, the trigger on real Redis and RabbitMQ, verdicts.

Here the test plays the worker's part on the task status (the same store calls a worker
makes), so every outcome, including the ones a worker rarely produces (a timeout, a
failure mid-run), is reached on demand. ``test_airflow_dags.py`` runs the same operator
end to end against a real ``typecheck worker`` process.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pika
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from airflow_provider_typecheck.jobs.topology import EVENTS_EXCHANGE, declare_topology, event_routing_key
from airflow_provider_typecheck.operators.schema import SchemaUploadOperator
from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.services import get_services
from airflow_provider_typecheck.triggers.validation import ValidationTrigger
from tests.integration.jobs_support import USERS_SCHEMA, job_env, write_csv  # noqa: F401

pytestmark = pytest.mark.integration("rabbitmq")

SUMMARY = {"total_rows": 3, "valid_rows": 2, "invalid_rows": 1, "errors_by_column": {"age": {"maximum": 1}},
           "first_errors": [{"row": 4, "column": "age", "keyword": "maximum", "message": "151 is greater than the maximum of 150"}]}


@pytest.fixture
def env(job_env, rabbitmq_uri):
    from airflow_provider_typecheck.settings import get_settings

    get_settings.cache_clear()
    get_services.cache_clear()
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
    declare_topology(connection.channel())
    connection.close()
    yield job_env
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def import_name(env, unique) -> str:
    name = f"users_{unique}"
    result = SchemaUploadOperator(task_id="upload", import_name=name, schema=USERS_SCHEMA).execute({})
    assert result == {"import_name": name, "version": 1, "status": "created"}
    again = SchemaUploadOperator(task_id="upload", import_name=name, schema=json.dumps(USERS_SCHEMA)).execute({})
    assert again["status"] == "unchanged"
    return name


@pytest.fixture
def data(tmp_path) -> Path:
    return write_csv(tmp_path / "users.csv", ["1,Ana,34", "2,Bo,151", "3,Cy,20"])


def defer(op: SpreadsheetValidateOperator) -> ValidationTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert deferred.value.method_name == "execute_complete"
    return deferred.value.trigger


def act_as_worker(task_id: str, import_name: str, rabbitmq_uri: str, outcome: str, delay: float = 0.5) -> threading.Thread:
    """Move the task as a worker would, then announce it on the events exchange."""

    def work() -> None:
        import time

        store = get_services().tasks
        time.sleep(delay)
        store.mark_reading(task_id)
        store.mark_validating(task_id, rows_total=3)
        if outcome == "failed":
            state = store.fail(task_id, "cannot read users.csv: not a CSV file").state.value
        else:
            summary = SUMMARY if outcome == "invalid" else {**SUMMARY, "valid_rows": 3, "invalid_rows": 0,
                                                             "errors_by_column": {}, "first_errors": []}
            state = store.finish(task_id, valid=outcome == "valid", summary=summary, rows_done=3,
                                 report_uri=f"file:///reports/{task_id}.json").state.value
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
        connection.channel().basic_publish(EVENTS_EXCHANGE, event_routing_key(state, import_name),
                                           json.dumps({"task_id": task_id, "state": state}).encode())
        connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def fire(trigger: ValidationTrigger) -> dict:
    async def first() -> dict:
        events = trigger.run()
        try:
            return (await anext(events)).payload
        finally:
            await events.aclose()

    return asyncio.run(first())


def worker_op(import_name: str, data: Path, **kwargs) -> SpreadsheetValidateOperator:
    return SpreadsheetValidateOperator(task_id="validate", import_name=import_name, file=str(data), mode="worker",
                                       deferrable=True, **{"poll_interval": 30, "min_defer_seconds": 0, **kwargs})


def test_trigger_serialize_round_trip() -> None:
    trigger = ValidationTrigger(validation_id="t1", import_name="users", poll_interval=2, timeout=60, key_prefix="p:")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_typecheck.triggers.validation.ValidationTrigger"
    assert ValidationTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_valid_file_defers_and_the_result_event_wakes_the_trigger(import_name, data, rabbitmq_uri, env) -> None:
    op = worker_op(import_name, data)
    trigger = defer(op)
    assert (trigger.import_name, trigger.key_prefix) == (import_name, env["TYPECHECK_REDIS_PREFIX"])
    assert get_services().tasks.get(trigger.validation_id).state.value == "queued"
    worker = act_as_worker(trigger.validation_id, import_name, rabbitmq_uri, "valid")
    # poll_interval is 30 s: only the event can end this wait promptly.
    event = fire(trigger)
    worker.join()
    assert (event["status"], event["state"]) == ("finished", "valid")
    result = op.execute_complete({}, event)
    assert result["validation_id"] == trigger.validation_id
    assert (result["state"], result["schema_version"], result["invalid_rows"]) == ("valid", 1, 0)
    assert result["report_uri"] == f"file:///reports/{trigger.validation_id}.json"
    assert op.validation_id == trigger.validation_id


@pytest.mark.parametrize("on_invalid", ["fail", "warn", "skip"])
def test_invalid_rows_obey_on_invalid(import_name, data, rabbitmq_uri, on_invalid, capfd) -> None:
    op = worker_op(import_name, data, on_invalid=on_invalid)
    trigger = defer(op)
    act_as_worker(trigger.validation_id, import_name, rabbitmq_uri, "invalid").join()
    event = fire(trigger)
    if on_invalid == "fail":
        with pytest.raises(AirflowFailException, match="1 of 3 rows"):
            op.execute_complete({}, event)
        assert "row 4, column age, maximum: 151 is greater than the maximum of 150" in capfd.readouterr().out
    elif on_invalid == "skip":
        with pytest.raises(AirflowSkipException):
            op.execute_complete({}, event)
    else:
        result = op.execute_complete({}, event)
        assert (result["state"], result["invalid_rows"], "errors" in result) == ("invalid", 1, False)


def test_a_failed_validation_fails_the_task(import_name, data, rabbitmq_uri) -> None:
    op = worker_op(import_name, data)
    trigger = defer(op)
    act_as_worker(trigger.validation_id, import_name, rabbitmq_uri, "failed").join()
    with pytest.raises(AirflowFailException, match="not a CSV file"):
        op.execute_complete({}, fire(trigger))


def test_a_timeout_fails_the_task_and_cancels_the_job(import_name, data) -> None:
    op = worker_op(import_name, data, timeout=1)
    trigger = defer(op)
    event = fire(trigger)
    assert event["status"] == "timeout"
    with pytest.raises(Exception, match="not finished after 1"):
        op.execute_complete({}, event)
    status = get_services().tasks.get(trigger.validation_id)
    assert (status.state.value, status.error) == ("failed", "timed out after 1 s")


def test_without_events_the_status_is_polled(import_name, data, rabbitmq_uri, monkeypatch) -> None:
    op = worker_op(import_name, data, poll_interval=0.2)
    trigger = defer(op)
    # A broker that cannot be reached only costs the early wake-up.
    monkeypatch.setenv("AIRFLOW_CONN_RABBITMQ_DEFAULT", "amqp://guest:guest@127.0.0.1:1/x?connection_timeout=1")
    store = get_services().tasks
    store.mark_reading(trigger.validation_id)
    store.mark_validating(trigger.validation_id)
    store.finish(trigger.validation_id, valid=True, summary={"total_rows": 0, "invalid_rows": 0, "errors_by_column": {}})
    assert fire(trigger)["state"] == "valid"


def test_unknown_task_is_an_error_event(env) -> None:
    event = fire(ValidationTrigger(validation_id="nope", import_name="users", key_prefix=env["TYPECHECK_REDIS_PREFIX"]))
    assert event["status"] == "error" and "unknown" in event["message"]


def test_on_kill_cancels_the_job(import_name, data) -> None:
    op = worker_op(import_name, data)
    trigger = defer(op)
    op.on_kill()
    assert get_services().tasks.get(trigger.validation_id).state.value == "failed"
    # The triggerer's own on_kill (task cleared while deferred) does the same, harmlessly twice.
    asyncio.run(trigger.on_kill())


def test_non_deferrable_waits_in_the_task(import_name, data, rabbitmq_uri) -> None:
    op = SpreadsheetValidateOperator(task_id="validate", import_name=import_name, file=str(data), mode="worker",
                                     deferrable=False, poll_interval=0.2, on_invalid="warn")
    published = []
    original = TaskStatusStore.create

    def record(self, **kwargs):
        status = original(self, **kwargs)
        published.append(act_as_worker(status.task_id, import_name, rabbitmq_uri, "invalid"))
        return status

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TaskStatusStore, "create", record)
        result = op.execute({})
    published[0].join()
    assert (result["state"], result["invalid_rows"]) == ("invalid", 1)


def test_the_connections_an_operator_names_are_the_ones_used(env, unique, data, monkeypatch, rabbitmq_uri) -> None:
    """PostgreSQL and RabbitMQ defaults point nowhere: only the named connections can make this pass."""
    from airflow_provider_typecheck.services import Services
    from airflow_provider_typecheck.settings import get_settings
    from tests.integration.conftest import POSTGRES_URI, REDIS_URI

    for name, uri in (("WAREHOUSE", POSTGRES_URI), ("STATUS", REDIS_URI), ("BROKER", rabbitmq_uri)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", uri)
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    monkeypatch.setenv("AIRFLOW_CONN_RABBITMQ_DEFAULT", "amqp://guest:guest@127.0.0.1:1/none?connection_timeout=2")
    monkeypatch.setenv("TYPECHECK_SCHEMA_STORE", "mongo")  # overridden by the operators' schema_store
    get_settings.cache_clear()
    get_services.cache_clear()
    import_name = f"users_{unique}"
    uploaded = SchemaUploadOperator(task_id="upload", import_name=import_name, schema=USERS_SCHEMA,
                                    postgres_conn_id="warehouse", schema_store="postgres").execute({})
    assert uploaded["status"] == "created"
    op = worker_op(import_name, data, postgres_conn_id="warehouse", schema_store="postgres",
                   redis_conn_id="status", rabbitmq_conn_id="broker", poll_interval=0.2)
    trigger = defer(op)
    assert (trigger.redis_conn_id, trigger.rabbitmq_conn_id) == ("status", "broker")
    store = Services(redis_conn_id="status").tasks
    store.mark_reading(trigger.validation_id)
    store.mark_validating(trigger.validation_id)
    store.finish(trigger.validation_id, valid=True, summary={"total_rows": 3, "invalid_rows": 0, "errors_by_column": {}})
    result = op.execute_complete({}, fire(trigger))
    assert (result["state"], result["schema_version"], result["validation_id"]) == ("valid", 1, trigger.validation_id)


def test_no_pika_chatter_reaches_the_task_log(import_name, data, caplog) -> None:
    import logging

    get_services.cache_clear()  # a new broker connection, as in a fresh task process
    logging.getLogger("pika").setLevel(logging.NOTSET)
    with caplog.at_level(logging.INFO):
        defer(worker_op(import_name, data))
    assert any(r.name == "airflow_provider_typecheck.jobs.publish" for r in caplog.records)  # logs are captured
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("pika") and r.levelno < logging.WARNING]
    assert chatter == []
