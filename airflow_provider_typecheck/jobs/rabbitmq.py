"""RabbitMQ connection parameters from an Airflow connection or a URI: the one place that parses them.

The connection is ``amqp://login:password@host:port/vhost`` (``amqps://`` or
``{"ssl": true}`` in the extra for TLS; ``%2F`` is the default vhost ``/``). The extra
may also set ``heartbeat``, ``connection_timeout``, ``blocked_connection_timeout``,
``connection_attempts``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_verify`` and ``ssl_server_hostname``.

:class:`AMQPParameters` holds what was read; it turns into pika's parameters (the
workers, the publisher, ``RabbitMQHook.get_conn``) or aio-pika's (the triggers), so
both clients see the same broker with the same heartbeat and TLS settings.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import pika
    from airflow.sdk import Connection

DEFAULT_PORT = 5672
DEFAULT_TLS_PORT = 5671
DEFAULT_HEARTBEAT_SECONDS = 30
DEFAULT_CONNECTION_TIMEOUT_SECONDS = 10.0
DEFAULT_CONNECTION_NAME = "airflow-provider-typecheck"
TLS_CONN_TYPES = frozenset({"amqps", "rabbitmqs"})
_TRUE = {"1", "true", "yes", "on"}


def _as_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


@dataclass(frozen=True)
class AMQPParameters:
    """Everything needed to open an AMQP connection, read once from a connection or URI."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    login: str = "guest"
    password: str = "guest"
    virtual_host: str = "/"
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    server_hostname: str | None = None
    heartbeat: int = DEFAULT_HEARTBEAT_SECONDS
    connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT_SECONDS
    blocked_connection_timeout: float = 60.0
    connection_attempts: int = 1
    connection_name: str = DEFAULT_CONNECTION_NAME

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def pika(self) -> pika.ConnectionParameters:
        """pika's parameters (blocking connections: workers, the publisher, the hook's ``get_conn``)."""
        import pika

        context = self.ssl_context()
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.virtual_host,
            credentials=pika.PlainCredentials(self.login, self.password),
            ssl_options=None if context is None else pika.SSLOptions(context, self.server_hostname or self.host),
            heartbeat=self.heartbeat,
            socket_timeout=self.connection_timeout,
            blocked_connection_timeout=self.blocked_connection_timeout,
            connection_attempts=self.connection_attempts,
            client_properties={"connection_name": self.connection_name},
        )

    def aio_pika(self) -> dict[str, Any]:
        """``aio_pika.connect``'s keyword arguments (the triggers)."""
        return {
            "host": self.host,
            "port": self.port,
            "login": self.login,
            "password": self.password,
            "virtualhost": self.virtual_host,
            "ssl": self.tls,
            "ssl_context": self.ssl_context(),
            "timeout": self.connection_timeout,
            "heartbeat": self.heartbeat,
            "client_properties": {"connection_name": self.connection_name},
        }


def amqp_parameters(
    *,
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    vhost: str | None,
    extra: dict[str, Any] | None = None,
    conn_type: str | None = None,
    connection_name: str | None = None,
) -> AMQPParameters:
    """Read the fields of an Airflow connection (or of a URI) into :class:`AMQPParameters`."""
    extra = dict(extra or {})
    tls = conn_type in TLS_CONN_TYPES or _as_bool(extra.get("ssl"), False)
    return AMQPParameters(
        host=host or "localhost",
        port=int(port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)),
        login=login or "guest",
        password=password or "guest",
        virtual_host=vhost or "/",
        tls=tls,
        ca_file=extra.get("ssl_ca_certs") or None,
        cert_file=extra.get("ssl_certfile") or None,
        key_file=extra.get("ssl_keyfile") or None,
        verify=_as_bool(extra.get("ssl_verify"), True),
        server_hostname=extra.get("ssl_server_hostname") or None,
        heartbeat=int(extra.get("heartbeat", DEFAULT_HEARTBEAT_SECONDS)),
        connection_timeout=float(extra.get("connection_timeout", DEFAULT_CONNECTION_TIMEOUT_SECONDS)),
        blocked_connection_timeout=float(extra.get("blocked_connection_timeout", 60)),
        connection_attempts=int(extra.get("connection_attempts", 1)),
        connection_name=connection_name or extra.get("connection_name") or DEFAULT_CONNECTION_NAME,
    )


def parameters_from_connection(conn: Connection, *, connection_name: str | None = None) -> AMQPParameters:
    """Parameters from an Airflow ``Connection``."""
    return amqp_parameters(
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        vhost=conn.schema,
        extra=conn.extra_dejson,
        conn_type=conn.conn_type,
        connection_name=connection_name,
    )


def parameters_from_uri(uri: str, *, connection_name: str | None = None) -> AMQPParameters:
    """Parameters from ``amqp[s]://login:password@host:port/vhost?extra=value``, read as Airflow reads one."""
    parts = urlsplit(uri)
    return amqp_parameters(
        host=parts.hostname,
        port=parts.port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        vhost=unquote(parts.path[1:]) if len(parts.path) > 1 else None,
        extra=dict(parse_qsl(parts.query)),
        conn_type=parts.scheme,
        connection_name=connection_name,
    )
