"""One parser of RabbitMQ connections, for pika (workers, publisher) and aio-pika (triggers) alike."""

from __future__ import annotations

import ssl

from airflow_provider_typecheck.jobs.rabbitmq import (
    DEFAULT_HEARTBEAT_SECONDS,
    amqp_parameters,
    parameters_from_uri,
)


def test_defaults_are_the_brokers_own() -> None:
    params = amqp_parameters(host=None, port=None, login=None, password=None, vhost=None)

    assert (params.host, params.port, params.virtual_host, params.login, params.tls) == (
        "localhost", 5672, "/", "guest", False)
    assert params.heartbeat == DEFAULT_HEARTBEAT_SECONDS and params.ssl_context() is None


def test_pika_and_aio_pika_see_the_same_broker() -> None:
    params = parameters_from_uri("amqps://u%40x:p%2Fw@mq.example/jobs%2Fa?heartbeat=7&connection_timeout=3"
                                 "&ssl_verify=false", connection_name="me")
    pika_params, aio = params.pika(), params.aio_pika()

    assert (pika_params.host, pika_params.port, pika_params.virtual_host, pika_params.heartbeat) == (
        "mq.example", 5671, "jobs/a", 7)
    assert (pika_params.credentials.username, pika_params.credentials.password) == ("u@x", "p/w")
    assert (aio["host"], aio["port"], aio["virtualhost"], aio["heartbeat"], aio["timeout"]) == (
        "mq.example", 5671, "jobs/a", 7, 3.0)
    assert pika_params.socket_timeout == aio["timeout"] == 3.0
    assert aio["ssl"] and aio["ssl_context"].verify_mode == ssl.CERT_NONE
    assert pika_params.client_properties["connection_name"] == aio["client_properties"]["connection_name"] == "me"


def test_tls_is_on_by_scheme_or_by_the_extra() -> None:
    by_extra = amqp_parameters(host="mq", port=None, login=None, password=None, vhost=None, extra={"ssl": "true"})
    by_type = amqp_parameters(host="mq", port=None, login=None, password=None, vhost=None, conn_type="amqps")

    assert by_extra.tls and by_type.tls and by_extra.port == by_type.port == 5671
    assert by_extra.ssl_context().verify_mode == ssl.CERT_REQUIRED
