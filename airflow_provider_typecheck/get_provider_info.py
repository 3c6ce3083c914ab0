"""Provider metadata read by Airflow's ProvidersManager through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_typecheck import __version__

INTEGRATION = "Typecheck"
RABBITMQ = "RabbitMQ"
# Where the documentation site (mkdocs.yml, built from docs/) is published. Airflow 3.3
# shows the package metadata's Project-URL "Documentation" in its Providers page, so
# pyproject.toml's [project.urls] names the same address (tests/unit/test_docs.py).
DOCUMENTATION_URL = "https://airflow-provider-typecheck.readthedocs.io/"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-typecheck",
        "name": "Typecheck",
        "description": "Validate every row and cell of CSV, XLSX and XLS spreadsheets against a JSON Schema.",
        "documentation-url": DOCUMENTATION_URL,
        "versions": [__version__],
        "integrations": [
            {"integration-name": INTEGRATION, "tags": ["software"]},
            {"integration-name": RABBITMQ, "external-doc-url": "https://www.rabbitmq.com/", "tags": ["software"]},
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_typecheck.operators.schema",
                    "airflow_provider_typecheck.operators.validate",
                ],
            }
        ],
        "sensors": [{"integration-name": RABBITMQ, "python-modules": ["airflow_provider_typecheck.sensors.rabbitmq"]}],
        "hooks": [{"integration-name": RABBITMQ, "python-modules": ["airflow_provider_typecheck.hooks.rabbitmq"]}],
        "triggers": [
            {"integration-name": RABBITMQ, "python-modules": ["airflow_provider_typecheck.triggers.rabbitmq"]},
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_typecheck.triggers.validation"]},
        ],
        "queues": ["airflow_provider_typecheck.queues.amqp.AMQPMessageQueueProvider"],
        "extra-links": ["airflow_provider_typecheck.operators.validate.ValidationReportLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_typecheck.hooks.rabbitmq.RabbitMQHook",
                "hook-name": "RabbitMQ (AMQP 0-9-1)",
                "connection-type": "amqp",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Virtual host"},
                    "placeholders": {"host": "rabbitmq", "port": "5672 (5671 with TLS)", "schema": "/", "login": "guest"},
                },
                "conn-fields": {
                    "ssl": {"label": "Use TLS (amqps)", "schema": {"type": ["boolean", "null"], "default": False}},
                    "ssl_verify": {
                        "label": "Verify the broker's certificate",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "ssl_ca_certs": {"label": "CA certificate path", "schema": {"type": ["string", "null"]}},
                    "ssl_certfile": {"label": "Client certificate path", "schema": {"type": ["string", "null"]}},
                    "ssl_keyfile": {"label": "Client private key path", "schema": {"type": ["string", "null"]}},
                    "heartbeat": {
                        "label": "Heartbeat (seconds)",
                        "schema": {"type": ["integer", "null"], "default": 30, "minimum": 0},
                    },
                    "connection_timeout": {
                        "label": "Connection timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 10, "exclusiveMinimum": 0},
                    },
                },
            }
        ],
        "plugins": [
            {"name": "typecheck", "plugin-class": "airflow_provider_typecheck.plugins.typecheck_plugin.TypecheckPlugin"}
        ],
    }
