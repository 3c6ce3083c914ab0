"""Wait for a message on RabbitMQ; its body goes to XCom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook
from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQTrigger, check_source, decode_body, matches

if TYPE_CHECKING:
    from airflow.sdk import Context


class RabbitMQSensor(BaseSensorOperator):
    """
    Succeed when a message arrives on ``queue_name`` (or on ``exchange`` under ``routing_key``).

    The message's body (parsed as JSON when it is JSON) is returned to XCom, and the message
    is acknowledged only after that hand-off. Deferrable: the wait runs in the triggerer as
    :class:`~airflow_provider_typecheck.triggers.rabbitmq.RabbitMQTrigger`, after one check
    of the queue in the task itself.

    :param queue_name: the queue to take the message from. (templated)
    :param exchange: the exchange to bind a private queue to, instead of ``queue_name``;
        only messages published after the sensor started are seen. (templated)
    :param routing_key: the binding key on ``exchange``. (templated)
    :param message_filter: ``{key: value}`` pairs the JSON body must hold. (templated)
    :param rabbitmq_conn_id: the Airflow connection of the broker.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("queue_name", "exchange", "routing_key", "message_filter")

    def __init__(
        self,
        *,
        queue_name: str | None = None,
        exchange: str | None = None,
        routing_key: str = "#",
        message_filter: dict[str, Any] | None = None,
        rabbitmq_conn_id: str = RabbitMQHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_source(queue_name, exchange)
        if exchange is not None and self.reschedule:
            raise ValueError("an exchange binding lives as long as the sensor's connection: use mode='poke'")
        self.queue_name = queue_name
        self.exchange = exchange
        self.routing_key = routing_key
        self.message_filter = message_filter
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self.deferrable = deferrable
        self._hook: RabbitMQHook | None = None
        self._channel: Any = None
        self._private_queue: str | None = None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            finally:
                self._close()
        # A message already waiting on a named queue is taken at once, without deferring.
        if self.queue_name is not None:
            found = self.poke(context)
            self._close()
            if isinstance(found, PokeReturnValue) and found.is_done:
                return found.xcom_value
        self.defer(
            trigger=RabbitMQTrigger(
                queue_name=self.queue_name,
                exchange=self.exchange,
                routing_key=self.routing_key,
                message_filter=self.message_filter,
                rabbitmq_conn_id=self.rabbitmq_conn_id,
                timeout=self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        channel = self._open_channel()
        queue = self.queue_name or self._private_queue
        # Look at what is waiting now, at most a queue's length, so a poke never blocks.
        pending = channel.queue_declare(queue, passive=True).method.message_count
        skipped: list[int] = []
        try:
            for _ in range(max(pending, 1)):
                method, properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    return False
                decoded = decode_body(body)
                if not matches(decoded, self.message_filter):
                    # Held until the poke ends: a message requeued now would come straight back.
                    skipped.append(method.delivery_tag)
                    continue
                self.log.info("Message %s from %s", properties.message_id, queue)
                channel.basic_ack(method.delivery_tag)
                return PokeReturnValue(is_done=True, xcom_value=decoded)
            return False
        finally:
            for tag in skipped:
                channel.basic_reject(tag, requeue=self.queue_name is not None)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") != "success":
            raise RuntimeError(f"RabbitMQSensor {self.task_id}: {event.get('message', event)}")
        self.log.info("Message %s from %s", event.get("message_id"), event.get("routing_key"))
        return event["body"]

    def _open_channel(self) -> Any:
        """One channel for all pokes: a private queue on an exchange lives as long as it."""
        if self._hook is None:
            self._hook = RabbitMQHook(rabbitmq_conn_id=self.rabbitmq_conn_id)
            self._channel = self._hook.get_conn().channel()
            if self.exchange is not None:
                self._private_queue = self._channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
                self._channel.queue_bind(self._private_queue, self.exchange, routing_key=self.routing_key)
        return self._channel

    def _close(self) -> None:
        if self._hook is not None:
            self._hook.close()
        self._hook = None
        self._channel = None
        self._private_queue = None
