"""Hand a validation to the workers: the one call every caller uses.

``publish_validation`` resolves the schema version, records the task as ``queued``,
publishes the job persistently with publisher confirms and returns the queued status.
A job the broker does not confirm is an error to the caller, and its task is ``failed``
with the reason, so no task waits in ``queued`` for a message that was never sent.

Callers reach it through the composition root, which passes its stores and publisher:
``services.publish_validation(...)`` (:mod:`airflow_provider_typecheck.services`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.jobs.contract import CONTRACT_VERSION, JobOptions, ValidationJob
from airflow_provider_typecheck.jobs.topology import EXCHANGE, VALIDATION_ROUTING_KEY, declare_topology

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.registry.models import SchemaVersion, TaskStatus
    from airflow_provider_typecheck.registry.schemas import SchemaStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore

log = logging.getLogger(__name__)

JOB_MESSAGE_TYPE = f"typecheck.validation.v{CONTRACT_VERSION}"


class PublishError(RuntimeError):
    """The broker did not take the job (unreachable, refused, or no confirm)."""


class ConfirmedPublisher:
    """
    One kept connection and confirm-mode channel, shared by the threads of a process.

    Every publish waits for the broker's confirm. A connection found dead (a broker
    restart, a missed heartbeat while idle) is replaced once and the publish retried;
    a second failure raises :class:`PublishError`.

    :param connect: opens a new blocking connection (the composition root's ``rabbitmq_connect``).
    """

    def __init__(self, connect: Callable[[], BlockingConnection], *, delivery_limit: int) -> None:
        self.connect = connect
        self.delivery_limit = delivery_limit
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._lock = threading.Lock()

    def _open(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close_connection()
            self._connection = self.connect()
            channel = self._connection.channel()
            channel.confirm_delivery()
            declare_topology(channel, delivery_limit=self.delivery_limit)
            self._channel = channel
        return self._channel

    def publish(self, exchange: str, routing_key: str, body: bytes, *, message_id: str, message_type: str) -> None:
        """Publish a persistent message and wait for its confirm; raise :class:`PublishError` if none."""
        import pika
        from pika import exceptions

        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            type=message_type,
        )
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._open().basic_publish(exchange, routing_key, body, properties, mandatory=True)
                    return
                except (exceptions.UnroutableError, exceptions.NackError) as err:
                    raise PublishError(f"RabbitMQ refused the message: {type(err).__name__}") from err
                except exceptions.AMQPError as err:
                    self.close_connection()
                    if attempt == 2:
                        raise PublishError(f"RabbitMQ is unreachable: {_describe(err)}") from err
                    log.warning("publish failed (%s); reconnecting once", _describe(err))

    def close_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way
                log.debug("closing a broken publisher connection failed", exc_info=True)


def publish_validation(
    import_name: str,
    file_uri: str,
    *,
    schemas: SchemaStore,
    tasks: TaskStatusStore,
    files: FileStore,
    publisher: ConfirmedPublisher,
    options: JobOptions,
    file_name: str | None = None,
    schema_version: int | None = None,
    schema: SchemaVersion | None = None,
    submitted_by: str | None = None,
    file_checksum: str | None = None,
    airflow: dict[str, Any] | None = None,
) -> TaskStatus:
    """
    Queue the validation of ``file_uri`` against ``import_name``'s schema; return its queued status.

    :param schema_version: a version to pin; default the active one, resolved now.
    :param schema: the schema version the caller has already resolved (the upload route,
        which answers 404 before reading the file): it is not looked up again.
    :param file_checksum: the file's ``sha256:`` when the caller read its bytes (an upload),
        kept on the task so that the worker need not read the file once more for it.
    :param submitted_by: who may see the task over REST (a user's id; admins see every task).
    :param airflow: the submitting task instance (``dag_id``, ``task_id``, ``run_id``,
        ``map_index``): Airflow's pages show the task to whoever may read that DAG.
    :raises SchemaNotFound: no such import name or version (nothing is recorded).
    :raises PublishError: the broker did not confirm the job; its task is ``failed``.
    """
    if schema is None:
        schema = schemas.active(import_name, schema_version)
    job = ValidationJob(
        task_id=uuid.uuid4(),
        import_name=import_name,
        schema_version=schema.version,
        file_uri=file_uri,
        file_name=file_name or file_uri.rstrip("/").rsplit("/", 1)[-1] or file_uri,
        options=options,
        submitted_by=submitted_by,
        submitted_at=datetime.now(timezone.utc),
    )
    task_id = str(job.task_id)
    queued = tasks.create(
        task_id=task_id,
        import_name=import_name,
        file_name=job.file_name,
        file_size=_size(files, file_uri),
        file_checksum=file_checksum,
        schema_version=schema.version,
        submitted_by=submitted_by,
        airflow=airflow,
    )
    try:
        publisher.publish(
            EXCHANGE, VALIDATION_ROUTING_KEY, job.to_body(), message_id=task_id, message_type=JOB_MESSAGE_TYPE
        )
    except BaseException as err:
        reason = str(err) if isinstance(err, PublishError) else f"{type(err).__name__}: {err}"
        tasks.fail(task_id, f"the job could not be queued: {reason}")
        if isinstance(err, PublishError):
            raise
        raise PublishError(reason) from err
    log.info("queued task %s: %s against %s v%s", task_id, job.file_name, import_name, schema.version)
    return queued


def _size(files: FileStore, uri: str) -> int | None:
    # The size is for people reading the status; a store that cannot tell costs nothing.
    try:
        return files.size(uri)
    except Exception:  # noqa: BLE001
        return None


def _describe(err: Any) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
