"""The RabbitMQ topology of validation jobs, declared idempotently by whoever uses it.

::

    publish_validation ──▶ [typecheck] ──"validation"──▶ (typecheck.validation, quorum) ──▶ workers
                          direct exchange                   │ x-delivery-limit exceeded,
                                                            ▼ or refused by a worker
                          [typecheck.dead] ─────────────▶ (typecheck.validation.dead)
    workers ──▶ [typecheck.events] topic, routing key validation.<state>.<import_name>

Declaring is idempotent: publishers and workers both call :func:`declare_topology` on
every (re)connection. A queue's arguments are fixed when it is first declared; to change
the delivery limit of an existing queue, use a RabbitMQ policy (``delivery-limit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

EXCHANGE = "typecheck"
VALIDATION_QUEUE = "typecheck.validation"
VALIDATION_ROUTING_KEY = "validation"
DEAD_LETTER_EXCHANGE = "typecheck.dead"
DEAD_LETTER_QUEUE = "typecheck.validation.dead"
EVENTS_EXCHANGE = "typecheck.events"

# Header a worker sets on a message it dead-letters itself: why it refused the job.
REASON_HEADER = "x-typecheck-reason"
DEFAULT_DELIVERY_LIMIT = 3


def declare_topology(channel: BlockingChannel, *, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> None:
    """Declare the exchanges and queues of validation jobs (durable; safe to repeat)."""
    channel.exchange_declare(EXCHANGE, exchange_type="direct", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    channel.exchange_declare(EVENTS_EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, routing_key=VALIDATION_ROUTING_KEY)
    channel.queue_declare(
        VALIDATION_QUEUE,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": VALIDATION_ROUTING_KEY,
        },
    )
    channel.queue_bind(VALIDATION_QUEUE, EXCHANGE, routing_key=VALIDATION_ROUTING_KEY)


def event_routing_key(state: str, import_name: str) -> str:
    """``validation.<state>.<import_name>``: bind ``validation.invalid.#`` or ``validation.*.orders``."""
    return f"validation.{state}.{import_name}"
