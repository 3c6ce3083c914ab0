"""RabbitMQEventTrigger: one consumer per queue for many assets, acks only after events are stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid

import pika
import pytest
from airflow.triggers.shared_stream import SharedStreamManager

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook
from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger

pytestmark = pytest.mark.integration("rabbitmq")


@pytest.fixture
def queue(rabbitmq_conn):
    name = f"test.events.{uuid.uuid4().hex[:10]}"
    with RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn) as hook:
        channel = hook.get_conn().channel()
        channel.queue_declare(name, durable=True)
        channel.confirm_delivery()
        for body in ({"file": "a.csv", "import_name": "orders"}, {"file": "b.csv", "import_name": "users"}):
            channel.basic_publish("", name, json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2))
        yield name
        hook.get_conn().channel().queue_delete(name)


def depth(vhost: str, queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of a queue, as the broker counts them."""
    out = subprocess.run(
        ["rabbitmqctl", "-s", "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    for line in out.splitlines():
        name, ready, unacked = line.split("\t")
        if name == queue:
            return int(ready), int(unacked)
    raise AssertionError(f"no queue {queue}")


async def settle(vhost: str, queue: str, expected: tuple[int, int]) -> tuple[int, int]:
    for _ in range(50):
        if (found := depth(vhost, queue)) == expected:
            return found
        await asyncio.sleep(0.2)
    return found


def test_two_assets_share_one_consumer_and_messages_are_acked_after_persistence(queue, rabbitmq_vhost) -> None:
    orders = RabbitMQEventTrigger(queue_name=queue, message_filter={"import_name": "orders"})
    users = RabbitMQEventTrigger(queue_name=queue, message_filter={"import_name": "users"})
    key = orders.shared_stream_key()
    assert key == users.shared_stream_key()

    async def scenario() -> tuple:
        manager = SharedStreamManager(ack_timeout=60)
        orders_events = orders.filter_shared_stream(manager.subscribe(trigger_id=1, trigger=orders, key=key))
        users_events = users.filter_shared_stream(manager.subscribe(trigger_id=2, trigger=users, key=key))
        first = await anext(orders_events)
        seq_orders = manager.bind_pending_event(trigger_id=1, key=key)
        second = await anext(users_events)
        seq_users = manager.bind_pending_event(trigger_id=2, key=key)
        # Both delivered, neither stored yet: the broker still holds both, unacknowledged.
        before = await settle(rabbitmq_vhost, queue, (0, 2))
        manager.confirm_persisted([seq_orders, seq_users])
        waiting = [asyncio.ensure_future(anext(orders_events)), asyncio.ensure_future(anext(users_events))]
        after = await settle(rabbitmq_vhost, queue, (0, 0))
        for task in waiting:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await task
        await manager.stop_all()
        return first.payload, second.payload, before, after

    first, second, before, after = asyncio.run(scenario())
    assert (first["body"]["file"], second["body"]["file"]) == ("a.csv", "b.csv")
    assert before == (0, 2)
    assert after == (0, 0)


def test_events_never_confirmed_are_redelivered(queue, rabbitmq_vhost) -> None:
    trigger = RabbitMQEventTrigger(queue_name=queue)
    key = trigger.shared_stream_key()

    async def scenario() -> tuple[int, int]:
        manager = SharedStreamManager(ack_timeout=60)
        events = trigger.filter_shared_stream(manager.subscribe(trigger_id=1, trigger=trigger, key=key))
        await anext(events)
        manager.bind_pending_event(trigger_id=1, key=key)
        # The triggerer goes away before the event is stored.
        await manager.stop_all()
        return await settle(rabbitmq_vhost, queue, (2, 0))

    assert asyncio.run(scenario()) == (2, 0)


def test_standalone_run_acks_each_message_once_handed_on(queue, rabbitmq_vhost) -> None:
    trigger = RabbitMQEventTrigger(queue_name=queue, message_filter={"import_name": "users"})

    async def scenario() -> tuple:
        async with contextlib.aclosing(trigger.run()) as events:
            event = await anext(events)
            waiting = asyncio.ensure_future(anext(events))
            # Resumed: the users message is acked; the orders one matched no filter and was dropped.
            settled = await settle(rabbitmq_vhost, queue, (0, 0))
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        return event.payload, settled

    payload, settled = asyncio.run(scenario())
    assert payload["body"]["file"] == "b.csv"
    assert settled == (0, 0)


def queue_types(vhost: str) -> dict[str, str]:
    out = subprocess.run(["rabbitmqctl", "-s", "list_queues", "-p", vhost, "name", "type"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return dict(line.split("\t") for line in out.splitlines() if "\t" in line)


def test_the_watcher_declares_the_queue_it_consumes(rabbitmq_conn, rabbitmq_vhost) -> None:
    from airflow_provider_typecheck.queues.files import FILES_QUEUE_ARGUMENTS

    name = f"test.files.{uuid.uuid4().hex[:10]}"
    trigger = RabbitMQEventTrigger(queue_name=name)

    async def first_event() -> dict:
        async with contextlib.aclosing(trigger.run()) as events:
            waiting = asyncio.ensure_future(anext(events))
            for _ in range(300):
                if name in queue_types(rabbitmq_vhost) or waiting.done():
                    break
                await asyncio.sleep(0.2)
            with RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn) as hook:
                hook.get_conn().channel().basic_publish("", name, json.dumps({"file": "x.csv"}).encode())
            return (await asyncio.wait_for(waiting, 60)).payload

    try:
        assert asyncio.run(first_event())["body"] == {"file": "x.csv"}
        assert queue_types(rabbitmq_vhost)[name] == FILES_QUEUE_ARGUMENTS["x-queue-type"]
    finally:
        with RabbitMQHook(rabbitmq_conn_id=rabbitmq_conn) as hook:
            hook.get_conn().channel().queue_delete(name)


class _Stop(Exception):
    pass


def test_a_queue_it_may_not_declare_is_one_clear_error_then_backoff(monkeypatch, rabbitmq_vhost, caplog) -> None:
    """A user without the configure permission: no crash loop, one error naming the fix, growing pauses."""
    import logging

    from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQStreamProducer
    from tests.integration.api_support import rabbitmqctl
    from tests.integration.conftest import RABBITMQ_HOST

    user, password = f"typecheck_ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rabbitmqctl("add_user", user, password)
    try:
        rabbitmqctl("set_permissions", "-p", rabbitmq_vhost, user, "^$", ".*", ".*")
        monkeypatch.setenv("AIRFLOW_CONN_RABBITMQ_LIMITED", f"amqp://{user}:{password}@{RABBITMQ_HOST}/{rabbitmq_vhost}")
        producer = RabbitMQStreamProducer({"queue_name": f"test.files.{uuid.uuid4().hex[:10]}",
                                           "rabbitmq_conn_id": "rabbitmq_limited", "prefetch_count": 10})
        pauses: list[float] = []

        async def pause(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 5:
                raise _Stop

        producer._pause = pause

        async def consume() -> None:
            async with contextlib.aclosing(producer.open_stream()) as stream:
                await anext(stream)

        with caplog.at_level(logging.INFO, logger="airflow_provider_typecheck.triggers.rabbitmq"), \
                pytest.raises(_Stop):
            asyncio.run(consume())
        assert pauses == [1, 2, 4, 8, 16]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert "ACCESS_REFUSED" in errors[0] and "typecheck declare" in errors[0]
    finally:
        rabbitmqctl("delete_user", user)


def test_typecheck_declare_provisions_the_whole_topology(tmp_path) -> None:
    import os
    import sys

    from tests.integration.api_support import rabbitmqctl
    from tests.integration.conftest import RABBITMQ_HOST

    vhost = f"typecheck_declare_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "TYPECHECK_RABBITMQ_URI": f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}"}

    def declare(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "declare", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    try:
        for _ in range(2):  # idempotent
            done = declare()
            assert done.returncode == 0, done.stderr
        assert "declared queue typecheck.files" in done.stdout
        assert queue_types(vhost) == {"typecheck.validation": "quorum", "typecheck.validation.dead": "quorum",
                                      "typecheck.files": "quorum"}
        # A queue that exists with other arguments: exit 2 and the broker's reason, no traceback.
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(env["TYPECHECK_RABBITMQ_URI"]))
        connection.channel().queue_declare("classic.files", durable=True)
        connection.close()
        refused = declare("--files-queue", "classic.files")
        assert refused.returncode == 2
        assert refused.stderr.startswith("typecheck: error: RabbitMQ refused the declaration (406)"), refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        rabbitmqctl("delete_vhost", vhost)
