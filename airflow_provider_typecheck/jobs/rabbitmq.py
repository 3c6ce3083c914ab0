"""RabbitMQ connection parameters from an Airflow connection: the one place that parses them.

The connection is ``amqp://login:password@host:port/vhost`` (``amqps://`` or
``{"ssl": true}`` in the extra for TLS; ``%2F`` is the default vhost ``/``). The extra
may also set ``heartbeat``, ``blocked_connection_timeout``, ``connection_attempts``,
``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_verify`` and ``ssl_server_hostname``.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import pika
    from airflow.sdk import Connection

    from airflow_provider_typecheck.settings import TypecheckSettings

DEFAULT_HEARTBEAT_SECONDS = 30
_TRUE = {"1", "true", "yes", "on"}


def connection_parameters(
    *,
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    vhost: str | None,
    extra: dict[str, Any] | None = None,
    conn_type: str | None = None,
) -> pika.ConnectionParameters:
    """Build pika's parameters from the fields of an Airflow connection."""
    import pika

    extra = dict(extra or {})
    use_tls = conn_type in {"amqps", "rabbitmqs"} or str(extra.get("ssl", "")).lower() in _TRUE
    ssl_options = None
    if use_tls:
        context = ssl.create_default_context(cafile=extra.get("ssl_ca_certs"))
        if extra.get("ssl_certfile"):
            context.load_cert_chain(extra["ssl_certfile"], extra.get("ssl_keyfile"))
        if str(extra.get("ssl_verify", "true")).lower() not in _TRUE:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        ssl_options = pika.SSLOptions(context, server_hostname=extra.get("ssl_server_hostname") or host)
    credentials = pika.PlainCredentials(login or "guest", password or "guest")
    return pika.ConnectionParameters(
        host=host or "localhost",
        port=port or (5671 if use_tls else 5672),
        virtual_host=vhost or "/",
        credentials=credentials,
        ssl_options=ssl_options,
        heartbeat=int(extra.get("heartbeat", DEFAULT_HEARTBEAT_SECONDS)),
        blocked_connection_timeout=float(extra.get("blocked_connection_timeout", 60)),
        connection_attempts=int(extra.get("connection_attempts", 1)),
        client_properties={"connection_name": extra.get("connection_name", "airflow-provider-typecheck")},
    )


def get_connection_parameters(conn_id: str = "rabbitmq_default") -> pika.ConnectionParameters:
    """Read the Airflow connection ``conn_id`` (``AIRFLOW_CONN_*`` needs no metadata database)."""
    from airflow.sdk import BaseHook

    return parameters_from_connection(BaseHook.get_connection(conn_id))


def parameters_from_connection(conn: Connection, *, connection_name: str | None = None) -> pika.ConnectionParameters:
    """Parameters from an Airflow ``Connection`` (the worker's and ``RabbitMQHook``'s sync side)."""
    extra = conn.extra_dejson
    if connection_name is not None:
        extra = {"connection_name": connection_name, **extra}
    return connection_parameters(
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        vhost=conn.schema,
        extra=extra,
        conn_type=conn.conn_type,
    )


def parameters_from_uri(uri: str) -> pika.ConnectionParameters:
    """Parameters from ``amqp[s]://login:password@host:port/vhost?extra=value``, read as Airflow reads one."""
    parts = urlsplit(uri)
    return connection_parameters(
        host=parts.hostname,
        port=parts.port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        vhost=unquote(parts.path[1:]) if len(parts.path) > 1 else None,
        extra=dict(parse_qsl(parts.query)),
        conn_type=parts.scheme,
    )


def parameters_from_settings(settings: TypecheckSettings) -> pika.ConnectionParameters:
    """``TYPECHECK_RABBITMQ_URI`` when set, else the Airflow connection ``settings.rabbitmq_conn_id``."""
    if settings.rabbitmq_uri is not None:
        return parameters_from_uri(settings.rabbitmq_uri.get_secret_value())
    return get_connection_parameters(settings.rabbitmq_conn_id)
