"""RabbitMQHook reads its Airflow connection with the package's one parser."""

from __future__ import annotations

import pytest

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook
from airflow_provider_typecheck.jobs.rabbitmq import parameters_from_uri

URI = "amqps://u:p@broker.example:5999/jobs?heartbeat=9&ssl_verify=false&connection_timeout=4"


def test_the_hook_and_the_workers_parse_a_connection_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BROKER", URI)
    hook = RabbitMQHook(rabbitmq_conn_id="broker")

    params = hook.get_connection_params()

    assert params == parameters_from_uri(URI, connection_name="airflow-typecheck:broker")
    assert (params.host, params.port, params.virtual_host, params.heartbeat, params.tls, params.verify) == (
        "broker.example", 5999, "jobs", 9, True, False)
    assert hook.pika_parameters().heartbeat == 9


def test_the_hook_connects_to_nothing_until_asked() -> None:
    hook = RabbitMQHook(rabbitmq_conn_id="no_such_connection")
    assert hook._connection is None
    hook.close()  # closing what was never opened is harmless


def test_a_broker_that_is_not_there_fails_the_connection_test(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_NOWHERE", f"amqp://guest:guest@127.0.0.1:{port}/x?connection_timeout=1")

    ok, message = RabbitMQHook(rabbitmq_conn_id="nowhere").test_connection()

    assert not ok and message
