"""RabbitMQ through one Airflow connection: pika for tasks and workers, aio-pika for triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_typecheck.jobs.rabbitmq import AMQPParameters, parameters_from_connection

if TYPE_CHECKING:
    import aio_pika
    import pika
    from airflow.sdk import Connection


class RabbitMQHook(BaseHook):
    """
    Connect to RabbitMQ with the Airflow connection ``rabbitmq_conn_id``.

    The connection's host, port, login and password are the broker's; its schema is the
    virtual host (``/`` when empty; ``%2F`` in a URI). TLS is on for ``amqps://``
    connections or the extra ``{"ssl": true}``, with optional ``ssl_ca_certs``,
    ``ssl_certfile``, ``ssl_keyfile`` and ``ssl_verify``; ``heartbeat`` (seconds) and
    ``connection_timeout`` tune the session.

    Nothing connects in ``__init__``. :meth:`get_conn` opens a blocking pika connection on
    first use and keeps it; use the hook as a context manager to close it. Triggers call
    :meth:`aget_connection_params` and :meth:`aconnect` for an aio-pika connection instead,
    which never blocks the triggerer's event loop.

    :param rabbitmq_conn_id: the Airflow connection id.
    """

    conn_name_attr = "rabbitmq_conn_id"
    default_conn_name = "rabbitmq_default"
    # Not "rabbitmq": apache-airflow-provider-rabbitmq owns that type. "amqp" is the URI
    # scheme, so `AIRFLOW_CONN_X='amqp://…'` needs no conn_type of its own.
    conn_type = "amqp"
    hook_name = "RabbitMQ (AMQP 0-9-1)"

    def __init__(self, rabbitmq_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self._connection: pika.BlockingConnection | None = None

    def parameters_from(self, conn: Connection) -> AMQPParameters:
        """The connection read by the package's one parser (:mod:`~airflow_provider_typecheck.jobs.rabbitmq`)."""
        return parameters_from_connection(conn, connection_name=f"airflow-typecheck:{self.rabbitmq_conn_id}")

    def get_connection_params(self) -> AMQPParameters:
        return self.parameters_from(self.get_connection(self.rabbitmq_conn_id))

    async def aget_connection_params(self) -> AMQPParameters:
        return self.parameters_from(await self.aget_connection(self.rabbitmq_conn_id))

    def pika_parameters(self) -> pika.ConnectionParameters:
        """pika's parameters, built by the same function the workers use."""
        return self.get_connection_params().pika()

    def get_conn(self) -> pika.BlockingConnection:
        """Return the hook's pika connection, opening it on first call (or after it closed)."""
        if self._connection is None or self._connection.is_closed:
            import pika

            self._connection = pika.BlockingConnection(self.pika_parameters())
        return self._connection

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None

    def __enter__(self) -> RabbitMQHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """Open a connection and a channel: what the Connections UI's "Test" button calls."""
        try:
            with self:
                self.get_conn().channel().close()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, "Connection successfully tested"

    async def aconnect(self, params: AMQPParameters | None = None) -> aio_pika.abc.AbstractConnection:
        """Open a new aio-pika connection (the caller closes it: ``async with``)."""
        import aio_pika

        params = params or await self.aget_connection_params()
        kwargs = params.aio_pika()
        kwargs["client_properties"] = {"connection_name": f"airflow-typecheck-trigger:{self.rabbitmq_conn_id}"}
        return await aio_pika.connect(**kwargs)
