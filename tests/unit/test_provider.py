"""The package is an Airflow provider: ProvidersManager loads everything its provider info declares."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


@pytest.fixture
def providers_manager(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_entry_point_returns_the_distribution_name() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_typecheck")]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-typecheck"


def test_providers_manager_lists_it(providers_manager) -> None:
    providers = providers_manager.providers
    assert "airflow-provider-typecheck" in providers
    assert providers["airflow-provider-typecheck"].data["name"] == "Typecheck"


def test_connection_type_hook_and_fields(providers_manager) -> None:
    from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook

    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook = ProvidersManagerTaskRuntime().hooks["amqp"]
    assert hook.hook_class_name == "airflow_provider_typecheck.hooks.rabbitmq.RabbitMQHook"
    assert (hook.connection_id_attribute_name, hook.hook_name) == ("rabbitmq_conn_id", RabbitMQHook.hook_name)
    behaviour = providers_manager.field_behaviours["amqp"]
    assert behaviour["relabeling"] == {"schema": "Virtual host"}
    fields = {name.removeprefix("extra__amqp__") for name in providers_manager.connection_form_widgets if name.startswith("extra__amqp__")}
    assert {"ssl", "ssl_verify", "ssl_ca_certs", "heartbeat"} <= fields


def test_declared_modules_and_classes_import(providers_manager) -> None:
    import importlib

    info = providers_manager.providers["airflow-provider-typecheck"].data
    modules = [m for key in ("operators", "sensors", "hooks", "triggers") for group in info[key] for m in group["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    providers_manager.initialize_providers_queues()
    assert "airflow_provider_typecheck.queues.amqp.AMQPMessageQueueProvider" in providers_manager.queue_class_names
    assert "airflow_provider_typecheck.operators.validate.ValidationReportLink" in providers_manager.extra_links_class_names
    trigger_modules = {t.package_name for t in providers_manager.trigger}
    assert "airflow-provider-typecheck" in trigger_modules


def test_message_queue_trigger_with_scheme_amqp_is_ours(providers_manager) -> None:
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger

    trigger = MessageQueueTrigger(scheme="amqp", queue_name="files.arrived", message_filter={"kind": "csv"})
    assert isinstance(trigger.trigger, RabbitMQEventTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_typecheck.triggers.rabbitmq.RabbitMQEventTrigger"
    assert RabbitMQEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert trigger.trigger.shared_stream_key() == ("amqp", "rabbitmq_default", "files.arrived", 100)
