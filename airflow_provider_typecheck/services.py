"""The composition root: every client and store of the package, built here and nowhere else.

One :class:`Services` holds what a process needs, built from the settings (and, in
Airflow, the connection ids an operator names) on first use, once::

    services = get_services()        # the process's, from TYPECHECK_* settings
    services = Services(settings, redis_conn_id="my_redis")   # an operator's own connections

    services.limits            # the core's limits (the same in every entry point)
    services.redis             # redis.Redis, sync
    await services.redis_async()   # redis.asyncio.Redis for the running event loop (triggers)
    services.rabbitmq_parameters   # pika's parameters, from the one parser (jobs.rabbitmq)
    services.schemas           # the schema store (MongoDB or PostgreSQL) behind the Redis cache
    services.users / .tasks / .parts / .files / .results
    services.publish_validation(...)

The API's dependencies (``api/deps.py``), the worker, the operators, the triggers, the
plugin's views and the CLI all ask this module; no other module constructs a Redis,
PostgreSQL, MongoDB or RabbitMQ client (``tests/unit/test_services.py`` checks it; the
hooks in ``hooks/`` are the Airflow face of a connection type and open their own).

Nothing connects at import or construction: a client is built on first use, and a
build that fails is tried again on the next use.
"""

from __future__ import annotations

import copy
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.lazy import built_once
from airflow_provider_typecheck.settings import TypecheckSettings, get_settings

if TYPE_CHECKING:
    import pika
    import redis
    import redis.asyncio
    from aio_pika.abc import AbstractConnection
    from pika.adapters.blocking_connection import BlockingConnection
    from pymongo import MongoClient

    from airflow_provider_typecheck.jobs.contract import JobOptions
    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.jobs.publish import ConfirmedPublisher
    from airflow_provider_typecheck.jobs.rabbitmq import AMQPParameters
    from airflow_provider_typecheck.jobs.retention import UploadLedger
    from airflow_provider_typecheck.registry.cache import SchemaCache
    from airflow_provider_typecheck.registry.login_throttle import LoginThrottle
    from airflow_provider_typecheck.registry.migrations import PostgresDatabase
    from airflow_provider_typecheck.registry.models import SchemaVersion, TaskStatus
    from airflow_provider_typecheck.registry.results import TaskResults
    from airflow_provider_typecheck.registry.parts import PartStore
    from airflow_provider_typecheck.registry.schemas import SchemaStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.registry.users import UserStore
    from airflow_provider_typecheck.validation.limits import Limits

# A Redis that cannot be reached fails fast (a schema read then falls back to the store);
# an answer may take longer on a busy server before the call counts as failed.
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
MONGO_SERVER_SELECTION_TIMEOUT_MS = 10_000
POSTGRES_POOL_SIZE = 8
_TRUE = {"1", "true", "yes", "on"}


class Services:
    """
    The clients and stores of one configuration, each built on first use.

    :param settings: defaults to the process's settings (:func:`~.settings.get_settings`).
    :param postgres_conn_id: an Airflow connection to use instead of the settings' one
        (likewise ``mongo_conn_id``, ``redis_conn_id``, ``rabbitmq_conn_id``).
    :param schema_store: ``mongo`` or ``postgres``, instead of ``TYPECHECK_SCHEMA_STORE``.
    :param redis_prefix: the Redis key prefix, instead of ``TYPECHECK_REDIS_PREFIX`` (a trigger's own).
    """

    def __init__(
        self,
        settings: TypecheckSettings | None = None,
        *,
        postgres_conn_id: str | None = None,
        mongo_conn_id: str | None = None,
        redis_conn_id: str | None = None,
        rabbitmq_conn_id: str | None = None,
        schema_store: str | None = None,
        redis_prefix: str | None = None,
    ) -> None:
        settings = settings if settings is not None else get_settings()
        overrides = {
            name: value
            for name, value in (
                ("postgres_conn_id", postgres_conn_id),
                ("mongo_conn_id", mongo_conn_id),
                ("redis_conn_id", redis_conn_id),
                ("rabbitmq_conn_id", rabbitmq_conn_id),
                ("schema_store", schema_store),
                ("redis_prefix", redis_prefix),
            )
            if value is not None
        }
        # Validated again, so a bad override fails like a bad setting.
        self.settings = (
            TypecheckSettings.model_validate({**settings.model_dump(), **overrides}) if overrides else settings
        )
        self._build_lock = threading.RLock()

    # --- the core's limits ----------------------------------------------------------

    @built_once
    def limits(self) -> Limits:
        """The core's limits from ``TYPECHECK_MAX_SCHEMA_*`` and ``TYPECHECK_MAX_WORKBOOK_*``."""
        from airflow_provider_typecheck.validation.limits import Limits, WorkbookLimits

        s = self.settings
        return Limits(
            max_schema_bytes=s.max_schema_bytes,
            max_schema_depth=s.max_schema_depth,
            workbook=WorkbookLimits(s.max_workbook_uncompressed_bytes, s.max_workbook_cells),
        )

    # --- clients --------------------------------------------------------------------

    @built_once
    def redis(self) -> redis.Redis:
        """The sync Redis client (task status, leases, the schema cache): ``TYPECHECK_REDIS_URI`` when set,
        else the Airflow connection."""
        from redis import Redis

        uri = _reveal(self.settings.redis_uri)
        if uri is not None:
            return Redis.from_url(uri, **_REDIS_TIMEOUTS)
        from airflow.sdk import BaseHook

        return Redis(**_redis_options(BaseHook.get_connection(self.settings.redis_conn_id)), **_REDIS_TIMEOUTS)

    async def redis_async(self) -> redis.asyncio.Redis:
        """A new ``redis.asyncio`` client for the running event loop; the caller closes it (``aclose``).

        It answers ``str``, not ``bytes``. The Airflow connection is read with
        ``aget_connection``, so the triggerer's event loop never blocks.
        """
        from redis.asyncio import Redis

        uri = _reveal(self.settings.redis_uri)
        if uri is not None:
            return Redis.from_url(uri, decode_responses=True, **_REDIS_TIMEOUTS)
        from airflow.sdk import BaseHook

        conn = await BaseHook.aget_connection(self.settings.redis_conn_id)
        return Redis(**_redis_options(conn), decode_responses=True, **_REDIS_TIMEOUTS)

    @built_once
    def amqp_parameters(self) -> AMQPParameters:
        """The broker: ``TYPECHECK_RABBITMQ_URI`` when set, else the Airflow connection, by the one parser."""
        from airflow_provider_typecheck.jobs.rabbitmq import parameters_from_connection, parameters_from_uri

        uri = _reveal(self.settings.rabbitmq_uri)
        if uri is not None:
            return parameters_from_uri(uri)
        from airflow.sdk import BaseHook

        return parameters_from_connection(BaseHook.get_connection(self.settings.rabbitmq_conn_id))

    @property
    def rabbitmq_parameters(self) -> pika.ConnectionParameters:
        """pika's parameters for the broker (a new object each time: callers may tune it)."""
        return self.amqp_parameters.pika()

    def rabbitmq_connect(self, *, timeout: float | None = None) -> BlockingConnection:
        """Open a new blocking connection to the broker; the caller closes it.

        :param timeout: bound the socket and allow one attempt (the health probe).
        """
        import pika

        parameters = self.rabbitmq_parameters
        if timeout is not None:
            parameters = copy.copy(parameters)
            parameters.socket_timeout = timeout
            parameters.connection_attempts = 1
        return pika.BlockingConnection(parameters)

    async def rabbitmq_aconnect(self) -> AbstractConnection:
        """Open a new aio-pika connection to the broker (triggers); the caller closes it."""
        import aio_pika

        uri = _reveal(self.settings.rabbitmq_uri)
        if uri is None:
            from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook

            return await RabbitMQHook(rabbitmq_conn_id=self.settings.rabbitmq_conn_id).aconnect()
        return await aio_pika.connect(**self.amqp_parameters.aio_pika())

    @built_once
    def mongo(self) -> MongoClient[Any]:
        """The MongoDB client: ``TYPECHECK_MONGO_URI`` when set, else ``MongoHook`` on the Airflow connection."""
        uri = _reveal(self.settings.mongo_uri)
        if uri is None:
            from airflow.providers.mongo.hooks.mongo import MongoHook

            return MongoHook(mongo_conn_id=self.settings.mongo_conn_id).get_conn()
        import pymongo

        return pymongo.MongoClient(uri, serverSelectionTimeoutMS=MONGO_SERVER_SELECTION_TIMEOUT_MS)

    @built_once
    def _postgres_hook(self) -> Any:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn_id, uri = self.settings.postgres_conn_id, _reveal(self.settings.postgres_uri)
        if uri is None:
            return PostgresHook(postgres_conn_id=conn_id)
        # With a URI no Airflow connection is looked up at all, so no metadata database is needed.
        from airflow.models.connection import Connection

        return PostgresHook(postgres_conn_id=conn_id, connection=Connection(conn_id=conn_id, uri=uri))

    def postgres_connect(self) -> Any:
        """Open a new DB-API connection to the package's PostgreSQL; the caller closes it."""
        return self._postgres_hook.get_conn()

    @built_once
    def postgres(self) -> PostgresDatabase:
        """The package's PostgreSQL, pooled and migrated on first use: ``TYPECHECK_POSTGRES_URI`` or the Airflow connection."""
        from airflow_provider_typecheck.registry.migrations import PostgresDatabase

        s = self.settings
        # Named by the URI too: two URIs under one connection id are two databases.
        name = f"{s.postgres_conn_id}:{_reveal(s.postgres_uri) or ''}"
        return PostgresDatabase(self.postgres_connect, s.postgres_schema, name=name, pool_size=POSTGRES_POOL_SIZE)

    # --- stores ---------------------------------------------------------------------

    @built_once
    def schema_backend(self) -> SchemaStore:
        """The schema store ``TYPECHECK_SCHEMA_STORE`` selects, without the cache (tests, tools)."""
        s = self.settings
        limits = {"max_schema_bytes": s.max_schema_bytes, "max_schema_depth": s.max_schema_depth}
        if s.schema_store == "postgres":
            from airflow_provider_typecheck.registry.postgres_schemas import PostgresSchemaStore

            return PostgresSchemaStore(self.postgres, **limits)
        from airflow_provider_typecheck.registry.mongo_schemas import MongoSchemaStore

        return MongoSchemaStore(self.mongo, database=s.mongo_database, collection=s.mongo_collection, **limits)

    @built_once
    def cache(self) -> SchemaCache:
        """The active-schema cache in Redis."""
        from airflow_provider_typecheck.registry.cache import SchemaCache

        return SchemaCache(self.redis, ttl_seconds=self.settings.cache_ttl_seconds, prefix=self.settings.redis_prefix)

    @built_once
    def schemas(self) -> SchemaStore:
        """The schema store behind the cache: what every reader and writer uses, so writes invalidate for all."""
        from airflow_provider_typecheck.registry.cache import CachedSchemaStore

        return CachedSchemaStore(self.schema_backend, self.cache)

    @built_once
    def users(self) -> UserStore:
        from airflow_provider_typecheck.registry.users import UserStore

        return UserStore(self.postgres)

    @built_once
    def tasks(self) -> TaskStatusStore:
        """The task-status store (its writer: the worker and ``publish_validation``)."""
        from airflow_provider_typecheck.registry.tasks import TaskStatusStore

        s = self.settings
        return TaskStatusStore(
            self.redis,
            finished_ttl_seconds=s.task_ttl_seconds,
            inflight_ttl_seconds=s.task_inflight_ttl_seconds,
            prefix=s.redis_prefix,
        )

    @built_once
    def parts(self) -> PartStore:
        """The parts of files split across the workers (the worker's; beside the task status)."""
        from airflow_provider_typecheck.registry.parts import PartStore

        s = self.settings
        return PartStore(self.redis, inflight_ttl_seconds=s.task_inflight_ttl_seconds, prefix=s.redis_prefix)

    @built_once
    def results(self) -> TaskResults:
        """The one reader of task results (``get``; ``aget`` in an event loop)."""
        from airflow_provider_typecheck.registry.results import TaskResults

        return TaskResults(self.tasks, self.redis_async)

    @built_once
    def login_throttle(self) -> LoginThrottle:
        """Failed-login counters in Redis (the API's login and password-change routes)."""
        from airflow_provider_typecheck.registry.login_throttle import LoginThrottle

        return LoginThrottle(self.redis, prefix=self.settings.redis_prefix)

    @built_once
    def uploads(self) -> UploadLedger:
        """Which task each upload belongs to, and each user's uploaded bytes (retention and quota)."""
        from airflow_provider_typecheck.jobs.retention import UploadLedger

        return UploadLedger(self.tasks)

    @built_once
    def files(self) -> FileStore:
        """Uploads, reports and row files under ``TYPECHECK_STORAGE_URI``."""
        from airflow_provider_typecheck.jobs.filestore import FileStore, default_storage_uri

        return FileStore(self.settings.storage_uri or default_storage_uri())

    @built_once
    def publisher(self) -> ConfirmedPublisher:
        """One kept confirm-mode connection for publishing jobs."""
        from airflow_provider_typecheck.jobs.publish import ConfirmedPublisher

        return ConfirmedPublisher(self.rabbitmq_connect, delivery_limit=self.settings.delivery_limit)

    # --- publishing -----------------------------------------------------------------

    def publish_validation(
        self,
        import_name: str,
        file_uri: str,
        *,
        file_name: str | None = None,
        schema_version: int | None = None,
        schema: SchemaVersion | None = None,
        options: JobOptions | None = None,
        submitted_by: str | None = None,
        file_checksum: str | None = None,
        airflow: dict[str, Any] | None = None,
    ) -> TaskStatus:
        """Queue a validation with these stores; return the queued status (see :func:`.jobs.publish.publish_validation`)."""
        from airflow_provider_typecheck.jobs.contract import JobOptions
        from airflow_provider_typecheck.jobs.publish import publish_validation

        return publish_validation(
            import_name,
            file_uri,
            schemas=self.schemas,
            tasks=self.tasks,
            files=self.files,
            publisher=self.publisher,
            options=options or JobOptions(max_errors=self.settings.max_errors),
            file_name=file_name,
            schema_version=schema_version,
            schema=schema,
            submitted_by=submitted_by,
            file_checksum=file_checksum,
            airflow=airflow,
        )

    def cancel_validation(self, task_id: str, *, reason: str = "cancelled") -> TaskStatus:
        """End a task as ``failed`` with ``reason``; a finished task stays as it is.

        :raises TaskNotFound: no such task.
        """
        return self.tasks.cancel(task_id, reason)

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close the clients built so far; a later use builds them again."""
        with self._build_lock:
            built = self.__dict__
            if "publisher" in built:
                built["publisher"].close_connection()
            if "redis" in built:
                built["redis"].close()
            if "mongo" in built:
                built["mongo"].close()
            if "postgres" in built:
                built["postgres"].close()
            for name in ("limits", "redis", "amqp_parameters", "mongo", "_postgres_hook", "postgres", "schema_backend", "cache",
                         "schemas", "users", "tasks", "parts", "results", "login_throttle", "uploads", "files", "publisher"):
                built.pop(name, None)


@lru_cache(maxsize=1)
def get_services() -> Services:
    """The process's services, from :func:`~.settings.get_settings` (``get_services.cache_clear()`` in tests)."""
    return Services(get_settings())


_REDIS_TIMEOUTS = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
}


def _redis_options(conn: Any) -> dict[str, Any]:
    """A Redis client's options from an Airflow Redis connection (read as ``RedisHook`` reads it)."""
    extra = conn.extra_dejson
    password = None if str(conn.password).lower() in ("none", "false", "") else conn.password
    options: dict[str, Any] = {
        "host": conn.host or "localhost",
        "port": int(conn.port or 6379),
        "username": conn.login or None,
        "password": password,
        "db": int(extra.get("db") or 0),
    }
    if str(extra.get("ssl", "")).lower() in _TRUE:
        options["ssl"] = True
        for name in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname"):
            if name in extra:
                options[name] = extra[name]
    return options


def _reveal(secret: Any) -> str | None:
    return None if secret is None else secret.get_secret_value()
