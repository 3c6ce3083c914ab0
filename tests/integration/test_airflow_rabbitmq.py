"""RabbitMQHook, RabbitMQTrigger and RabbitMQSensor against the real broker (a vhost of the session)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator

import pika
import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk import PokeReturnValue

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook
from airflow_provider_typecheck.sensors.rabbitmq import RabbitMQSensor
from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQTrigger

pytestmark = pytest.mark.integration("rabbitmq")


@pytest.fixture
def channel(rabbitmq_conn: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    with RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn) as hook:
        channel = hook.get_conn().channel()
        channel.confirm_delivery()
        yield channel


@pytest.fixture
def queue(channel, rabbitmq_conn) -> Iterator[str]:
    name = f"test.{uuid.uuid4().hex[:10]}"
    channel.queue_declare(name, durable=True)
    yield name
    # A fresh connection: under load the test's own may have missed its heartbeats meanwhile.
    with RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn) as hook:
        hook.get_conn().channel().queue_delete(name)


def publish(channel, queue: str, body: object) -> None:
    channel.basic_publish("", queue, json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2))


def ready(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def close_trigger_connections(vhost: str) -> int:
    """Close this session's trigger connections (ours alone), as a network cut would."""
    listing = subprocess.run(
        ["rabbitmqctl", "-s", "list_connections", "pid", "vhost", "client_properties"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    closed = 0
    for line in listing.stdout.splitlines():
        pid, conn_vhost, properties = line.split("\t", 2)
        if conn_vhost == vhost and '"airflow-typecheck-trigger:' in properties:
            # A connection that ended between the listing and now is not counted.
            done = subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: dropped"],
                                  capture_output=True, timeout=60)
            closed += done.returncode == 0
    return closed


def test_hook_reads_vhost_tls_and_closes(monkeypatch, rabbitmq_conn, rabbitmq_vhost) -> None:
    hook = RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn)
    params = hook.get_connection_params()
    assert (params.virtual_host, params.tls, params.port) == (rabbitmq_vhost, False, 5672)
    with hook:
        connection = hook.get_conn()
        assert connection.is_open and hook.get_conn() is connection
    assert connection.is_closed
    assert hook.test_connection() == (True, "Connection successfully tested")

    monkeypatch.setenv("AIRFLOW_CONN_TLS_BROKER", "amqps://u:p@broker.example/%2F?ssl_verify=false")
    tls = RabbitMQHook(rabbitmq_conn_id="tls_broker").get_connection_params()
    assert (tls.tls, tls.port, tls.virtual_host, tls.verify) == (True, 5671, "/", False)
    assert tls.ssl_context() is not None

    monkeypatch.setenv("AIRFLOW_CONN_NO_BROKER", "amqp://guest:guest@127.0.0.1:1/x?connection_timeout=1")
    ok, message = RabbitMQHook(rabbitmq_conn_id="no_broker").test_connection()
    assert not ok and message


def test_trigger_serialize_round_trip() -> None:
    trigger = RabbitMQTrigger(queue_name="q", message_filter={"a": 1}, rabbitmq_conn_id="c", timeout=5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_typecheck.triggers.rabbitmq.RabbitMQTrigger"
    assert RabbitMQTrigger(**kwargs).serialize() == (classpath, kwargs)
    with pytest.raises(ValueError, match="exactly one"):
        RabbitMQTrigger(queue_name="q", exchange="x")


def test_trigger_fires_with_the_matching_message_and_acks_it_after_hand_off(channel, queue, rabbitmq_conn) -> None:
    publish(channel, queue, {"file": "a.csv", "kind": "other"})
    publish(channel, queue, {"file": "b.csv", "kind": "arrival"})
    trigger = RabbitMQTrigger(queue_name=queue, message_filter={"kind": "arrival"}, timeout=30)

    async def take() -> dict:
        events = trigger.run()
        event = await anext(events)
        # Handed to the triggerer but not yet released: the message is not acknowledged.
        assert ready(channel, queue) == 0
        await events.aclose()
        return event.payload

    payload = asyncio.run(take())
    assert payload["status"] == "success"
    assert payload["body"] == {"file": "b.csv", "kind": "arrival"}
    assert payload["routing_key"] == queue
    # The matching message is gone; the other one was given back to the queue.
    assert ready(channel, queue) == 1
    method, _, body = channel.basic_get(queue, auto_ack=True)
    assert json.loads(body)["file"] == "a.csv"


def test_a_trigger_lost_before_hand_off_leaves_the_message_for_redelivery(channel, queue, rabbitmq_conn, rabbitmq_vhost) -> None:
    publish(channel, queue, {"file": "c.csv"})
    trigger = RabbitMQTrigger(queue_name=queue, timeout=30)

    async def crash_after_receiving() -> None:
        events = trigger.run()
        await anext(events)
        # The triggerer dies holding the event: the broker sees its connection drop.
        assert close_trigger_connections(rabbitmq_vhost) == 1
        with contextlib.suppress(Exception):
            await events.aclose()

    asyncio.run(crash_after_receiving())
    assert ready(channel, queue) == 1


def test_trigger_times_out(queue, rabbitmq_conn) -> None:
    async def first() -> dict:
        return (await anext(RabbitMQTrigger(queue_name=queue, timeout=0.5).run())).payload

    payload = asyncio.run(first())
    assert payload["status"] == "timeout"


def test_trigger_survives_the_broker_dropping_its_connection(channel, queue, rabbitmq_conn, rabbitmq_vhost) -> None:
    trigger = RabbitMQTrigger(queue_name=queue, timeout=60)

    async def scenario() -> dict:
        events = trigger.run()
        waiting = asyncio.ensure_future(anext(events))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if close_trigger_connections(rabbitmq_vhost):
                break
        else:
            raise AssertionError("the trigger never connected")
        await asyncio.sleep(0.2)
        publish(channel, queue, {"after": "reconnect"})
        event = await waiting
        await events.aclose()
        return event.payload

    payload = asyncio.run(scenario())
    assert payload == {**payload, "status": "success", "body": {"after": "reconnect"}}
    assert ready(channel, queue) == 0


def test_trigger_on_an_exchange_sees_messages_under_its_routing_key(channel, rabbitmq_conn) -> None:
    exchange = f"test.x.{uuid.uuid4().hex[:8]}"
    channel.exchange_declare(exchange, exchange_type="topic", auto_delete=True)

    async def scenario() -> dict:
        events = RabbitMQTrigger(exchange=exchange, routing_key="files.*", timeout=30).run()
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(1.0)  # the private queue is bound by then
        channel.basic_publish(exchange, "other.x", b"{}")
        channel.basic_publish(exchange, "files.csv", b'{"name": "d.csv"}')
        event = await waiting
        await events.aclose()
        return event.payload

    payload = asyncio.run(scenario())
    assert (payload["body"], payload["routing_key"]) == ({"name": "d.csv"}, "files.csv")
    channel.exchange_delete(exchange)


def test_sensor_takes_a_waiting_message_without_deferring(channel, queue, rabbitmq_conn) -> None:
    publish(channel, queue, {"file": "x.csv", "n": 1})
    publish(channel, queue, {"file": "y.csv", "n": 2})
    sensor = RabbitMQSensor(task_id="wait", queue_name=queue, message_filter={"n": 2}, deferrable=True)
    assert sensor.execute({}) == {"file": "y.csv", "n": 2}
    assert ready(channel, queue) == 1  # the other message is still there


def test_sensor_defers_to_the_trigger_and_completes(channel, queue, rabbitmq_conn) -> None:
    sensor = RabbitMQSensor(task_id="wait", queue_name=queue, deferrable=True, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, RabbitMQTrigger) and trigger.timeout == 120
    publish(channel, queue, {"file": "z.csv"})

    async def fire() -> dict:
        async with contextlib.aclosing(trigger.run()) as events:
            return (await anext(events)).payload

    event = asyncio.run(fire())
    assert sensor.execute_complete({}, event) == {"file": "z.csv"}
    with pytest.raises(RuntimeError, match="no message"):
        sensor.execute_complete({}, {"status": "timeout", "message": "no message within 1 s"})


def test_sensor_pokes_in_the_task(channel, queue, rabbitmq_conn) -> None:
    sensor = RabbitMQSensor(task_id="wait", queue_name=queue, deferrable=False)
    assert sensor.poke({}) is False
    publish(channel, queue, "plain text")
    found = sensor.poke({})
    assert isinstance(found, PokeReturnValue) and found.xcom_value == "plain text"
    sensor._close()
    assert ready(channel, queue) == 0
