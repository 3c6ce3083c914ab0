"""Every trigger of the package keeps its own arguments once a real triggerer has set it up.

A triggerer builds a trigger from its ``serialize()`` kwargs, then sets ``task_instance``
(whose setter also sets ``task_id`` and ``template_fields``), ``trigger_id``,
``triggerer_job_id``, ``timeout_after`` and, for event triggers, ``asset_state_store``.
``dag.test()`` sets none of these, which is how a ``task_id`` argument once passed every
test and failed in every real triggerer.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger, RabbitMQTrigger
from airflow_provider_typecheck.triggers.validation import RESERVED_TRIGGER_ATTRIBUTES, ValidationTrigger

TRIGGERS = [
    ValidationTrigger(validation_id="0b7d3f1e-5a55-4c4e-9d1e-3f0a8f6b2c11", import_name="users", poll_interval=2,
                      timeout=60, key_prefix="p:"),
    RabbitMQTrigger(queue_name="typecheck.files", message_filter={"import_name": "users"}, timeout=30),
    RabbitMQTrigger(exchange="typecheck.events", routing_key="validation.#"),
    RabbitMQEventTrigger(queue_name="typecheck.files", message_filter={"import_name": "users"}),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_no_argument_takes_a_name_the_triggerer_sets(trigger) -> None:
    _, kwargs = trigger.serialize()
    assert not set(kwargs) & RESERVED_TRIGGER_ATTRIBUTES


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_set_up_as_a_triggerer_does_it_serializes_the_same(trigger) -> None:
    classpath, kwargs = trigger.serialize()
    rebuilt = type(trigger)(**kwargs)
    # What TriggerRunner.create_triggers does after building it (airflow/jobs/triggerer_job_runner.py).
    rebuilt.task_instance = SimpleNamespace(task_id="validate", dag_id="d", run_id="r", map_index=-1, try_number=1)
    rebuilt.trigger_id = 7
    rebuilt.triggerer_job_id = 3
    rebuilt.timeout_after = None
    rebuilt.asset_state_store = object()
    assert rebuilt.serialize() == (classpath, kwargs)


def test_the_validation_id_survives_in_events() -> None:
    trigger = ValidationTrigger(validation_id="v-1", import_name="users")
    trigger.task_instance = SimpleNamespace(task_id="validate")
    assert trigger.task_id == "validate"  # Airflow's, as BaseTrigger sets it
    assert trigger._event("error", "x").payload == {"status": "error", "validation_id": "v-1", "message": "x"}


def test_a_quick_result_is_held_back_min_defer_seconds(monkeypatch) -> None:
    """apache/airflow#72716: the event waits out the rest of min_defer_seconds, counted from the trigger's start."""
    import asyncio

    from airflow_provider_typecheck.triggers import validation

    held: list[float] = []

    async def hold(seconds: float) -> None:
        held.append(seconds)

    async def quick_events(self):
        self._started = validation.time.monotonic()
        yield self._event("error", "unknown")

    monkeypatch.setattr(ValidationTrigger, "_events", quick_events)
    monkeypatch.setattr(ValidationTrigger, "_hold", staticmethod(hold))

    async def first(trigger: ValidationTrigger) -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    assert asyncio.run(first(ValidationTrigger(validation_id="v", import_name="u", min_defer_seconds=10)))["status"] == "error"
    assert len(held) == 1 and 0 < held[0] <= 10
    assert asyncio.run(first(ValidationTrigger(validation_id="v", import_name="u")))["status"] == "error"
    assert len(held) == 1  # 0: at once
