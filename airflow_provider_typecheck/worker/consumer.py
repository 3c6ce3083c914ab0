"""The RabbitMQ side of a worker: pika's threaded-consumer pattern.

The connection lives in the process's main thread, which does nothing but pika I/O
(so heartbeats keep flowing during a long file). Each delivery runs in a job thread
(up to ``prefetch`` at once); the only thing that crosses back is a callback handed to
``connection.add_callback_threadsafe``: publishing a split file's part jobs, the event or
a dead letter (with confirms), then the ack, nack or requeue. A lost connection is re-opened with
exponential backoff; jobs still running finish, and their unacked messages, requeued
by the broker, are recognised as finished when they come back.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.jobs.topology import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    EXCHANGE,
    REASON_HEADER,
    VALIDATION_QUEUE,
    VALIDATION_ROUTING_KEY,
    declare_topology,
    event_routing_key,
)
from airflow_provider_typecheck.worker.job import JobRunner, Outcome

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

    from airflow_provider_typecheck.metrics import WorkerMetrics
    from airflow_provider_typecheck.services import Services

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
# How long a job thread waits for the connection thread to publish and confirm.
CONFIRM_TIMEOUT_SECONDS = 60.0


class ConnectionLost(Exception):
    """The connection a delivery came on is gone; its message is back in the queue."""


class Worker:
    """
    One consumer connection and its job threads; :meth:`run` returns 0 after SIGTERM.

    :param services: the process's clients and stores (the composition root).
    :param prefetch: unacked jobs held (and run) at once by this process.
    :param metrics: where this process's jobs are counted (served by ``--metrics-port``).
    """

    def __init__(self, services: Services, *, prefetch: int = 1, metrics: WorkerMetrics | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.prefetch = prefetch
        self.metrics = metrics
        self.stopping = threading.Event()
        self.interrupt = threading.Event()
        self.runner = JobRunner(
            self.settings,
            tasks=services.tasks,
            schemas=services.schemas,
            files=services.files,
            limits=services.limits,
            interrupt=self.interrupt,
            metrics=metrics,
            parts=services.parts,
        )
        self._pool = ThreadPoolExecutor(max_workers=prefetch, thread_name_prefix="typecheck-job")
        self._inflight = 0
        self._lock = threading.Lock()
        self._connection: BlockingConnection | None = None
        self._pending: set[Future[None]] = set()
        self._backoff = 0.5

    # --- lifecycle ------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: finishing the current job(s) within %.0f s", self.settings.worker_shutdown_grace_seconds)
            self.stopping.set()

    def run(self) -> int:
        from airflow_provider_typecheck.worker.heartbeat import Heartbeat

        heartbeat = Heartbeat(self.runner.tasks, self.runner.name, self.settings.worker_heartbeat_seconds)
        heartbeat.start()
        try:
            return self._run()
        finally:
            heartbeat.stop()

    def _run(self) -> int:
        from pika import exceptions

        from airflow_provider_typecheck.jobs.retention import start_periodic_sweep

        start_periodic_sweep(self.settings, self.stopping, tasks=self.runner.tasks, files=self.runner.files)
        while True:
            try:
                self._consume()
                return 0
            except (exceptions.AMQPError, OSError) as err:
                self._fail_pending(err)
                if self.stopping.is_set():
                    # Running jobs cannot be acked any more: the broker has requeued them.
                    self.interrupt.set()
                    return 0
                if self.metrics is not None:
                    self.metrics.reconnects.inc()
                log.warning("RabbitMQ connection lost (%s); reconnecting in %.1f s", _describe(err), self._backoff)
                self._sleep(self._backoff * (0.5 + random.random()))
                self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)

    def _consume(self) -> None:
        from pika import exceptions

        connection = self.services.rabbitmq_connect()
        self._connection = connection
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            self.runner.delivery_limit = declare_topology(channel, delivery_limit=self.settings.delivery_limit)
            channel.basic_qos(prefetch_count=self.prefetch)
            tag = channel.basic_consume(VALIDATION_QUEUE, self._on_message(connection, channel))
            log.info("consuming %s (prefetch %d)", VALIDATION_QUEUE, self.prefetch)
            self._backoff = 0.5
            grace_over: float | None = None
            while True:
                try:
                    connection.process_data_events(time_limit=0.2)
                except ValueError:
                    # pika schedules the time limit on an I/O loop that a broker's forced close
                    # (CONNECTION_FORCED at shutdown) has already torn down: a lost connection.
                    if connection.is_open:
                        raise
                    raise exceptions.ConnectionWrongStateError("the connection closed while waiting") from None
                if not self.stopping.is_set():
                    continue
                if grace_over is None:
                    channel.basic_cancel(tag)  # no new deliveries; running jobs go on
                    grace_over = time.monotonic() + self.settings.worker_shutdown_grace_seconds
                if self._busy() == 0:
                    return
                if time.monotonic() > grace_over and not self.interrupt.is_set():
                    log.warning("grace period over: running jobs stop at their next progress point and are requeued")
                    self.interrupt.set()
                if time.monotonic() > grace_over + self.settings.worker_shutdown_grace_seconds:
                    # A job that reaches no progress point: closing the connection makes
                    # the broker requeue its message.
                    log.warning("leaving %d job(s) to the broker's requeue", self._busy())
                    return
        finally:
            self._connection = None
            if connection.is_open:
                connection.close()

    # --- deliveries -----------------------------------------------------------------

    def _on_message(self, connection: BlockingConnection, channel: BlockingChannel) -> Any:
        def on_message(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            delivery_count = int((properties.headers or {}).get("x-delivery-count", 0))
            with self._lock:
                self._inflight += 1
            if self.metrics is not None:
                self.metrics.jobs_in_flight.inc()
            self._pool.submit(self._work, connection, channel, method.delivery_tag, properties, body, delivery_count,
                              bool(method.redelivered))

        return on_message

    def _work(self, connection: BlockingConnection, channel: BlockingChannel, tag: int, properties: Any,
              body: bytes, delivery_count: int, redelivered: bool) -> None:
        try:
            outcome = self.runner.handle(body, delivery_count, redelivered=redelivered)
            self._settle(connection, channel, tag, properties, body, outcome)
        except ConnectionLost:
            log.warning("the connection closed before the job's outcome was settled; the broker requeued it")
        except Exception:
            log.exception("settling a delivery failed; requeueing it")
            try:
                self._in_connection(connection, lambda: channel.basic_nack(tag, requeue=True))
            except Exception:  # noqa: BLE001 - the connection is gone: the broker requeues it anyway
                log.warning("could not requeue the delivery; the broker will when the connection closes")
        finally:
            with self._lock:
                self._inflight -= 1
            if self.metrics is not None:
                self.metrics.jobs_in_flight.dec()

    def _settle(self, connection: BlockingConnection, channel: BlockingChannel, tag: int, properties: Any,
                body: bytes, outcome: Outcome) -> None:
        import pika

        if outcome.publish:
            self._in_connection(connection, lambda: self._publish_jobs(channel, outcome.publish))
        if outcome.action == "dead_letter":
            headers = dict(properties.headers or {})
            headers[REASON_HEADER] = outcome.reason
            dead = pika.BasicProperties(
                content_type=properties.content_type, delivery_mode=pika.DeliveryMode.Persistent,
                message_id=properties.message_id, type=properties.type, headers=headers,
            )
            self._in_connection(connection, lambda: channel.basic_publish(
                DEAD_LETTER_EXCHANGE, VALIDATION_ROUTING_KEY, body, dead, mandatory=True))
        if outcome.event is not None:
            event = outcome.event
            props = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                         message_id=event.task_id, type="typecheck.validation.event.v1")
            self._in_connection(connection, lambda: channel.basic_publish(
                EVENTS_EXCHANGE, event_routing_key(event.state, event.import_name), event.to_body(), props))
            try:
                self.runner.announced(event.task_id)
            except Exception as err:  # noqa: BLE001 - only spares a redelivery a second event
                log.warning("task %s: could not record its event as sent: %s", event.task_id, err)
        if outcome.action == "requeue":
            self._in_connection(connection, lambda: channel.basic_nack(tag, requeue=True))
        else:
            self._in_connection(connection, lambda: channel.basic_ack(tag))

    @staticmethod
    def _publish_jobs(channel: BlockingChannel, bodies: tuple[bytes, ...]) -> None:
        """Publish a split file's part jobs on the work queue, each confirmed (the parent is acked after)."""
        import json

        import pika

        from airflow_provider_typecheck.jobs.contract import PART_CONTRACT_VERSION

        for body in bodies:
            head = json.loads(body)
            props = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                         message_id=f"{head['task_id']}:part:{head['part']['index']}",
                                         type=f"typecheck.validation.v{PART_CONTRACT_VERSION}")
            channel.basic_publish(EXCHANGE, VALIDATION_ROUTING_KEY, body, props, mandatory=True)

    def _in_connection(self, connection: BlockingConnection, call: Any) -> None:
        """Run ``call`` on the connection's thread and wait for it (publishes wait for their confirm)."""
        done: Future[None] = Future()

        def run() -> None:
            if not done.set_running_or_notify_cancel():
                return
            try:
                call()
            except BaseException as err:  # handed to the job thread, which decides
                done.set_exception(err)
            else:
                done.set_result(None)

        with self._lock:
            if self._connection is not connection or not connection.is_open:
                raise ConnectionLost("the connection is closed")
            self._pending.add(done)
        try:
            connection.add_callback_threadsafe(run)
            done.result(timeout=CONFIRM_TIMEOUT_SECONDS)
        except Exception as err:
            if isinstance(err, ConnectionLost):
                raise
            from pika import exceptions

            if isinstance(err, (exceptions.AMQPError, TimeoutError)):
                raise ConnectionLost(str(err)) from err
            raise
        finally:
            with self._lock:
                self._pending.discard(done)

    def _fail_pending(self, err: BaseException) -> None:
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            try:
                future.set_exception(ConnectionLost(_describe(err)))
            except Exception:  # noqa: BLE001 - it finished meanwhile
                log.debug("a pending call finished as the connection was lost")

    def _busy(self) -> int:
        with self._lock:
            return self._inflight

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (self.stopping.is_set() and self._busy() == 0):
            time.sleep(0.1)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
