"""The RabbitMQ topology of validation jobs, declared idempotently by whoever uses it.

::

    publish_validation ──▶ [typecheck] ──"validation"──▶ (typecheck.validation, quorum) ──▶ workers
                          direct exchange                   │ x-delivery-limit exceeded,
                                                            ▼ or refused by a worker
                          [typecheck.dead] ─────────────▶ (typecheck.validation.dead)
    workers ──▶ [typecheck.events] topic, routing key validation.<state>.<import_name>

Declaring is idempotent: publishers and workers both call :func:`declare_topology` on
every (re)connection. A queue's arguments are fixed when it is first declared, and a
``delivery-limit`` policy cannot raise a limit set by argument (the lower one applies).
A validation queue declared earlier with another limit (3, before poison came to mean
"it kills workers") is used as it is, with a warning, instead of failing every
connection with PRECONDITION_FAILED; docs/operations.md says how to migrate it.

The broker's limit is only a backstop against a loop the workers cannot see: a job is
taken for poison when its worker *died* running it ``poison_worker_deaths`` times,
counted in Redis (see :mod:`airflow_provider_typecheck.worker.job`).
"""

from __future__ import annotations

import logging
import re
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
# RabbitMQ's own default for quorum queues since 4.0: high enough that broker restarts and
# lost connections never reach it; a worker's deaths are what mark poison.
DEFAULT_DELIVERY_LIMIT = 20

log = logging.getLogger(__name__)
_CURRENT_LIMIT = re.compile(r"inequivalent arg 'x-delivery-limit'.*current is '(\d+)'")


def declare_topology(channel: BlockingChannel, *, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> int:
    """
    Declare the exchanges and queues of validation jobs (durable; safe to repeat).

    Returns the validation queue's delivery limit in force: ``delivery_limit``, or the
    one an existing queue was declared with (a warning says so).
    """
    channel.exchange_declare(EXCHANGE, exchange_type="direct", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    channel.exchange_declare(EVENTS_EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, routing_key=VALIDATION_ROUTING_KEY)
    in_force = _declare_validation_queue(channel, delivery_limit)
    channel.queue_bind(VALIDATION_QUEUE, EXCHANGE, routing_key=VALIDATION_ROUTING_KEY)
    return in_force


def _declare_validation_queue(channel: BlockingChannel, delivery_limit: int) -> int:
    # Tried on a channel of its own: the broker closes a channel that declares a queue
    # with other arguments than it has, and the caller's channel must stay usable.
    from pika.exceptions import ChannelClosedByBroker

    probe = channel.connection.channel()
    try:
        probe.queue_declare(
            VALIDATION_QUEUE,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": VALIDATION_ROUTING_KEY,
            },
        )
    except ChannelClosedByBroker as err:
        found = _CURRENT_LIMIT.search(str(err.reply_text))
        if err.reply_code != 406 or found is None:
            raise
        current = int(found.group(1))
        log.warning(
            "queue %s was declared with x-delivery-limit %d (this version declares %d); it is used as it is. "
            "A job requeued %d times by broker restarts or lost connections is dead-lettered by the broker: "
            "migrate the queue as docs/operations.md says (drain it, then delete it when empty)",
            VALIDATION_QUEUE, current, delivery_limit, current,
        )
        return current
    finally:
        if probe.is_open:
            probe.close()
    return delivery_limit


def queue_depths(channel: BlockingChannel) -> dict[str, int]:
    """Messages ready in the validation and dead-letter queues (0 for a queue not declared yet)."""
    from pika.exceptions import ChannelClosedByBroker

    depths: dict[str, int] = {}
    for queue in (VALIDATION_QUEUE, DEAD_LETTER_QUEUE):
        # A passive declare of a missing queue closes its channel: one channel per queue.
        probe = channel.connection.channel()
        try:
            depths[queue] = probe.queue_declare(queue, passive=True).method.message_count
        except ChannelClosedByBroker as err:
            if err.reply_code != 404:
                raise
            depths[queue] = 0
        finally:
            if probe.is_open:
                probe.close()
    return depths


def event_routing_key(state: str, import_name: str) -> str:
    """``validation.<state>.<import_name>``: bind ``validation.invalid.#`` or ``validation.*.orders``."""
    return f"validation.{state}.{import_name}"
