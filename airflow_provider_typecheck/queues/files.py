"""The queue of file announcements that event-driven DAGs consume: its one declaration.

``typecheck.files`` is a durable quorum queue with no other argument (no TTL, no length
limit, no dead-letter exchange): an announcement waits, replicated, until an
``AssetWatcher`` has stored its asset event. Publishers send JSON bodies
``{"import_name": ..., "file": ...}`` to it through the default exchange (routing key
``typecheck.files``), or bind it to an exchange of theirs.

The watcher (``RabbitMQEventTrigger``) declares the queue it consumes with these
arguments when it is missing; ``typecheck declare`` declares it, and the validation
jobs' topology, for operators who pre-provision and grant the triggerer no configure
permission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aio_pika
    from pika.adapters.blocking_connection import BlockingChannel

FILES_QUEUE = "typecheck.files"
FILES_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


def declare_files_queue(channel: BlockingChannel, name: str = FILES_QUEUE) -> None:
    """Declare the announcements queue (durable, quorum); idempotent."""
    channel.queue_declare(name, durable=True, arguments=FILES_QUEUE_ARGUMENTS)


async def adeclare_files_queue(channel: aio_pika.abc.AbstractChannel, name: str) -> aio_pika.abc.AbstractQueue:
    """The same declaration on an aio-pika channel (the triggerer's)."""
    return await channel.declare_queue(name, durable=True, arguments=FILES_QUEUE_ARGUMENTS)
