"""The ``amqp`` scheme of common-messaging's ``MessageQueueTrigger``: event-driven DAGs over RabbitMQ."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.messaging.providers.base_provider import BaseMessageQueueProvider

from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger


class AMQPMessageQueueProvider(BaseMessageQueueProvider):
    """
    Dispatch ``MessageQueueTrigger(scheme="amqp", queue_name=..., ...)`` to
    :class:`~airflow_provider_typecheck.triggers.rabbitmq.RabbitMQEventTrigger`, which
    defines the accepted parameters.
    """

    scheme = "amqp"

    def trigger_class(self) -> type[BaseEventTrigger]:
        return RabbitMQEventTrigger
