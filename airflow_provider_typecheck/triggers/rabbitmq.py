"""Triggers on AMQP messages (aio-pika), acknowledging a message only once it is handed on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent
from airflow.triggers.shared_stream import SharedStreamProducer

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook

if TYPE_CHECKING:
    import aio_pika
    from airflow.triggers.shared_stream import AdvanceItem

# Non-matching messages a trigger may hold while it looks further down a queue.
HELD_MESSAGES = 100
# Seconds between reconnection attempts after the broker drops the connection.
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
# A watcher that cannot consume its queue (broker down, queue missing and not declarable)
# retries after 1, 2, 4... seconds, at most this long apart: it never gives up, never spins.
WATCHER_MAX_BACKOFF = 60.0

log = logging.getLogger(__name__)


def check_source(queue_name: str | None, exchange: str | None) -> None:
    """A message comes from a queue or from an exchange (bound to a queue of its own): exactly one."""
    if (queue_name is None) == (exchange is None):
        raise ValueError("give exactly one of queue_name or exchange")


def decode_body(body: bytes) -> Any:
    """A message body as JSON when it parses, else as text (XCom takes both)."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def matches(body: Any, message_filter: dict[str, Any] | None) -> bool:
    """Whether a decoded body holds every ``key: value`` of ``message_filter`` (all when None)."""
    if not message_filter:
        return True
    return isinstance(body, dict) and all(body.get(key) == value for key, value in message_filter.items())


def message_payload(message: aio_pika.abc.AbstractIncomingMessage, body: Any) -> dict[str, Any]:
    return {
        "body": body,
        "routing_key": message.routing_key,
        "exchange": message.exchange,
        "message_id": message.message_id,
        "redelivered": message.redelivered,
        "headers": {k: v for k, v in (message.headers or {}).items() if isinstance(v, str | int | float | bool)},
    }


def connection_errors() -> tuple[type[BaseException], ...]:
    import aio_pika.exceptions
    import aiormq.exceptions

    return (
        ConnectionError,
        OSError,
        aiormq.exceptions.AMQPConnectionError,
        aiormq.exceptions.ChannelInvalidStateError,
        aio_pika.exceptions.ChannelClosed,
    )


class RabbitMQTrigger(BaseTrigger):
    """
    Fire with the first message on ``queue_name`` (or on ``exchange`` + ``routing_key``).

    With ``queue_name`` the trigger consumes from that existing queue, competing with any
    other consumer. With ``exchange`` it binds a queue of its own (exclusive, deleted with
    the connection) to the exchange under ``routing_key``: messages published before the
    trigger started are not seen.

    Delivery is at least once: the message is acknowledged only after its event has left
    the trigger. A trigger cancelled or killed before that leaves the message
    unacknowledged, and the broker delivers it again. A message that does not match
    ``message_filter`` is held unacknowledged (up to ``HELD_MESSAGES``) until the trigger
    fires, then requeued for the other consumers of a named queue. A dropped connection is reopened with backoff; after
    ``len(RECONNECT_DELAYS)`` failures in a row the trigger fires an ``error`` event.

    :param queue_name: the queue to consume from.
    :param exchange: the exchange to bind a private queue to (instead of ``queue_name``).
    :param routing_key: the binding key on ``exchange`` (``#`` matches all on a topic exchange).
    :param message_filter: ``{key: value}`` pairs the JSON body must hold; None takes any message.
    :param rabbitmq_conn_id: the Airflow connection of the broker.
    :param timeout: seconds after which the trigger fires a ``timeout`` event; None waits forever.
    """

    def __init__(
        self,
        *,
        queue_name: str | None = None,
        exchange: str | None = None,
        routing_key: str = "#",
        message_filter: dict[str, Any] | None = None,
        rabbitmq_conn_id: str = RabbitMQHook.default_conn_name,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        check_source(queue_name, exchange)
        self.queue_name = queue_name
        self.exchange = exchange
        self.routing_key = routing_key
        self.message_filter = message_filter
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue_name": self.queue_name,
                "exchange": self.exchange,
                "routing_key": self.routing_key,
                "message_filter": self.message_filter,
                "rabbitmq_conn_id": self.rabbitmq_conn_id,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with contextlib.aclosing(self._deliveries()) as deliveries:
            try:
                async with asyncio.timeout(self.timeout):
                    payload = await anext(deliveries)
            except TimeoutError:
                payload = {"status": "timeout", "message": f"no message within {self.timeout} s"}
            yield TriggerEvent(payload)
        # Leaving `aclosing` resumes the delivery at its yield, which acknowledges it.

    async def _deliveries(self) -> AsyncIterator[dict[str, Any]]:
        """Yield one matching message's payload; acknowledge it when resumed or closed after that."""
        import aio_pika.exceptions

        hook = RabbitMQHook(rabbitmq_conn_id=self.rabbitmq_conn_id)
        params = await hook.aget_connection_params()
        failures = 0
        handed_off = False
        while True:
            try:
                async with await hook.aconnect(params) as connection:
                    failures = 0
                    channel = await connection.channel()
                    await channel.set_qos(prefetch_count=HELD_MESSAGES)
                    queue = await self._queue(channel)
                    skipped: list[aio_pika.abc.AbstractIncomingMessage] = []
                    async with queue.iterator() as messages:
                        async for message in messages:
                            body = decode_body(message.body)
                            if not matches(body, self.message_filter):
                                # Held, not requeued: a requeued message comes straight back.
                                skipped.append(message)
                                continue
                            self.log.info("Message %s from %s", message.message_id, self._source)
                            try:
                                yield {"status": "success", **message_payload(message, body)}
                            finally:
                                # The event has left the trigger: the triggerer (or dag.test)
                                # holds it. Cancelled before the yield, nothing is acknowledged;
                                # if the connection died meanwhile, the broker delivers it again.
                                handed_off = True
                                with contextlib.suppress(*connection_errors(), aio_pika.exceptions.AMQPError):
                                    await message.ack()
                                    for other in skipped:
                                        # Other consumers of a named queue may want them.
                                        await other.reject(requeue=self.queue_name is not None)
                            return
            except connection_errors() as exc:
                if handed_off:
                    return  # closing a dead connection after the hand-off: nothing left to do
                if failures >= len(RECONNECT_DELAYS):
                    yield {"status": "error", "message": f"RabbitMQ unreachable: {exc}"}
                    return
                self.log.warning("RabbitMQ connection lost (%s); reconnecting in %s s", exc, RECONNECT_DELAYS[failures])
                await asyncio.sleep(RECONNECT_DELAYS[failures])
                failures += 1

    async def _queue(self, channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
        if self.queue_name is not None:
            return await channel.get_queue(self.queue_name, ensure=True)
        exchange = await channel.get_exchange(self.exchange, ensure=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=self.routing_key)
        return queue

    @property
    def _source(self) -> str:
        return f"queue {self.queue_name}" if self.queue_name else f"exchange {self.exchange} ({self.routing_key})"


class RabbitMQStreamProducer(SharedStreamProducer):
    """
    One consumer of a queue serving every :class:`RabbitMQEventTrigger` on it (ack mode).

    A message is acknowledged only when every trigger that saw it has had its event stored
    in Airflow's metadata database; a message some trigger rejected is rejected without
    requeue (to the queue's dead-letter exchange, if any); a message whose event was not
    confirmed in time, or that no trigger was online to see, goes back to the queue.
    """

    # The pause between two attempts to reach the queue (a test counts them instead of waiting).
    _pause = staticmethod(asyncio.sleep)

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.queue_name: str = kwargs["queue_name"]
        self.rabbitmq_conn_id: str = kwargs["rabbitmq_conn_id"]
        self.prefetch_count: int = kwargs["prefetch_count"]
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        queue = await self._consumable_queue()
        async with queue.iterator() as messages:
            async for message in messages:
                yield message_payload(message, decode_body(message.body)), message
        # The contract is "yield forever, or raise": a consumer cancelled by the broker
        # (queue deleted) ends the iteration, which is an error here.
        raise ConnectionError(f"RabbitMQ stopped delivering from queue {self.queue_name}")

    async def _consumable_queue(self) -> aio_pika.abc.AbstractQueue:
        """
        Connect and find the queue, declaring it (``queues.files``'s arguments) if missing.

        Until that works, log the cause once as an error (again only when it changes) and
        retry with a growing pause: raising would have the triggerer restart the watcher
        at once, about once a second, each time with a traceback.
        """
        hook = RabbitMQHook(rabbitmq_conn_id=self.rabbitmq_conn_id)
        delay, reported = 1.0, None
        while True:
            try:
                self._connection = await hook.aconnect()
                queue = await self._queue(self._connection)
            except Exception as exc:  # noqa: BLE001 - unreachable, refused, undefined connection: all wait alike
                await self.aclose()
                problem = f"{type(exc).__name__}: {exc}"
                if problem != reported:
                    log.error(
                        "Cannot consume RabbitMQ queue %s (connection %s): %s. Declare it with `typecheck declare`"
                        " or grant this user the configure permission on it; retrying, at most every %s s",
                        self.queue_name, self.rabbitmq_conn_id, problem, WATCHER_MAX_BACKOFF,
                    )
                    reported = problem
                await self._pause(delay)
                delay = min(delay * 2, WATCHER_MAX_BACKOFF)
                continue
            if reported is not None:
                log.info("Consuming RabbitMQ queue %s again", self.queue_name)
            return queue

    async def _queue(self, connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractQueue:
        import aiormq.exceptions

        from airflow_provider_typecheck.queues.files import adeclare_files_queue

        channel = await connection.channel()
        try:
            queue = await channel.get_queue(self.queue_name, ensure=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            # The broker closes a channel on a 404: declare on a new one.
            channel = await connection.channel()
            queue = await adeclare_files_queue(channel, self.queue_name)
            log.info("Declared RabbitMQ queue %s", self.queue_name)
        await channel.set_qos(prefetch_count=self.prefetch_count)
        return queue

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        for item in batch:
            message: aio_pika.abc.AbstractIncomingMessage = item.broker_payload
            outcome = item.outcome
            if outcome.rejected:
                await message.reject(requeue=False)
            elif outcome.is_clean:
                await message.ack()
            else:
                await message.nack(requeue=True)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail in any way
                await connection.close()


class RabbitMQEventTrigger(BaseEventTrigger):
    """
    Fire an asset event for every message on ``queue_name``: event-driven scheduling over AMQP.

    Reached through ``MessageQueueTrigger(scheme="amqp", queue_name=..., ...)`` of the
    common-messaging provider, or used directly in an ``AssetWatcher``. All triggers on one
    connection and queue share one consumer in the triggerer (a shared stream in ack mode):
    each sees every message and fires for those matching its ``message_filter``, and the
    message is acknowledged only after every resulting asset event is stored. A message
    that no trigger's filter matches is acknowledged and dropped. Run standalone (outside
    the triggerer), the trigger consumes on its own and acknowledges each message once its
    event has left the trigger.

    (The queue's name is ``queue_name``: ``queue`` is MessageQueueTrigger's own, deprecated,
    parameter.)

    :param queue_name: the queue to consume; declared (durable quorum queue, see
        :mod:`airflow_provider_typecheck.queues.files`) when missing. A queue that can be
        neither found nor declared is logged once as an error and retried with backoff.
    :param message_filter: ``{key: value}`` pairs the JSON body must hold; None fires for all.
    :param rabbitmq_conn_id: the Airflow connection of the broker.
    :param prefetch_count: messages in flight between the broker and the triggerer.
    """

    def __init__(
        self,
        *,
        queue_name: str,
        message_filter: dict[str, Any] | None = None,
        rabbitmq_conn_id: str = RabbitMQHook.default_conn_name,
        prefetch_count: int = 100,
    ) -> None:
        super().__init__()
        self.queue_name = queue_name
        self.message_filter = message_filter
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self.prefetch_count = prefetch_count

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "queue_name": self.queue_name,
                "message_filter": self.message_filter,
                "rabbitmq_conn_id": self.rabbitmq_conn_id,
                "prefetch_count": self.prefetch_count,
            },
        )

    def shared_stream_key(self) -> Hashable | None:
        return ("amqp", self.rabbitmq_conn_id, self.queue_name, self.prefetch_count)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        return RabbitMQStreamProducer(kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for payload in shared_stream:
            if matches(payload["body"], self.message_filter):
                yield TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        producer = RabbitMQStreamProducer(self.serialize()[1])
        try:
            async with contextlib.aclosing(producer.open_stream()) as stream:
                async for payload, message in stream:
                    try:
                        if matches(payload["body"], self.message_filter):
                            yield TriggerEvent(payload)
                    finally:
                        # Resumed or closed after the yield: the event has left the trigger.
                        with contextlib.suppress(*connection_errors()):
                            await message.ack()
        finally:
            await producer.aclose()
