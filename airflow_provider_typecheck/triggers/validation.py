"""Wait, in the triggerer, for a validation job on the worker pool to finish."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_typecheck.hooks.rabbitmq import RabbitMQHook
from airflow_provider_typecheck.registry.tasks import DEFAULT_PREFIX

if TYPE_CHECKING:
    from airflow_provider_typecheck.services import Services

# What a real triggerer (and BaseTrigger's task_instance setter) sets on every trigger it
# runs: a trigger attribute of one of these names would be overwritten there.
RESERVED_TRIGGER_ATTRIBUTES = frozenset({
    "task_id", "trigger_id", "task_instance", "_task_instance", "task", "template_fields", "template_ext", "log",
    "triggerer_job_id", "timeout_after", "asset_state_store",
})


class ValidationTrigger(BaseTrigger):
    """
    Fire when the validation ``validation_id`` is finished (``valid``, ``invalid`` or ``failed``).

    The task's status in Redis is the truth; the worker's result event on the
    ``typecheck.events`` exchange only wakes the trigger early, so a lost event costs at
    most ``poll_interval`` seconds and an unreachable broker only that. Both clients are
    async (``redis.asyncio``, aio-pika): the triggerer's event loop never blocks.

    Events: ``{"status": "finished", "validation_id", "state", "summary": <ValidationSummary as JSON>}``, or
    ``{"status": "timeout" | "error", "validation_id", "message"}``.

    The validation's id is ``validation_id``, never ``task_id``: a real triggerer sets
    ``task_instance`` on every trigger, and ``BaseTrigger`` then overwrites ``task_id``
    (and ``trigger_id``, ``template_fields``) with Airflow's own. No argument of this
    trigger may take one of those names (see ``RESERVED_TRIGGER_ATTRIBUTES``).

    :param validation_id: the validation task (as returned by ``publish_validation``).
    :param import_name: its import name (the event routing key holds it).
    :param redis_conn_id: the Airflow connection of the task-status Redis.
    :param rabbitmq_conn_id: the Airflow connection of the broker with the events exchange.
    :param poll_interval: seconds between two reads of the status.
    :param timeout: seconds to wait in all; None waits forever.
    :param key_prefix: the task-status key prefix (``typecheck:``).
    :param min_defer_seconds: the least time between the trigger's start and its event.
        A quicker result is held back that long, so that Airflow's scheduler has taken in
        the deferring try's exit before the task resumes: Airflow 3.3 otherwise may fail
        the resumed try on that stale "success" (apache/airflow#72716). 0 fires at once.
    """

    # How the trigger waits out min_defer_seconds (a test records it instead of waiting).
    _hold = staticmethod(asyncio.sleep)

    def __init__(
        self,
        *,
        validation_id: str,
        import_name: str,
        redis_conn_id: str = "redis_default",
        rabbitmq_conn_id: str = RabbitMQHook.default_conn_name,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        key_prefix: str = DEFAULT_PREFIX,
        min_defer_seconds: float = 0.0,
    ) -> None:
        super().__init__()
        self.validation_id = validation_id
        self.import_name = import_name
        self.redis_conn_id = redis_conn_id
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.key_prefix = key_prefix
        self.min_defer_seconds = min_defer_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "validation_id": self.validation_id,
                "import_name": self.import_name,
                "redis_conn_id": self.redis_conn_id,
                "rabbitmq_conn_id": self.rabbitmq_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "key_prefix": self.key_prefix,
                "min_defer_seconds": self.min_defer_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with contextlib.aclosing(self._events()) as events:
            async for event in events:
                held = self.min_defer_seconds - (time.monotonic() - self._started)
                if held > 0:
                    await self._hold(held)
                yield event

    async def _events(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_typecheck.registry.errors import TaskNotFound

        self._started = time.monotonic()
        deadline = None if self.timeout is None else self._started + self.timeout
        services = self._services()
        results = services.results
        try:
            async with contextlib.AsyncExitStack() as stack:
                wake_up = await self._subscribe(stack, services)
                while True:
                    try:
                        summary = await results.aget(self.validation_id)
                    except TaskNotFound:
                        yield self._event("error", f"validation task {self.validation_id} is unknown or expired")
                        return
                    if summary is not None:
                        yield TriggerEvent({"status": "finished", "validation_id": self.validation_id,
                                            "state": summary.state, "summary": summary.model_dump(mode="json")})
                        return
                    wait = self.poll_interval
                    if deadline is not None:
                        wait = min(wait, deadline - time.monotonic())
                        if wait <= 0:
                            yield self._event("timeout", f"validation task {self.validation_id} not finished after {self.timeout} s")
                            return
                    await wake_up(wait)
        finally:
            await results.aclose()

    def _event(self, status: str, message: str) -> TriggerEvent:
        return TriggerEvent({"status": status, "validation_id": self.validation_id, "message": message})

    def _services(self) -> Services:
        from airflow_provider_typecheck.services import Services

        return Services(redis_conn_id=self.redis_conn_id, rabbitmq_conn_id=self.rabbitmq_conn_id,
                        redis_prefix=self.key_prefix)

    async def _subscribe(self, stack: contextlib.AsyncExitStack, services: Services) -> Any:
        """Return ``wait(seconds)``, which returns early when an event about this import lands."""
        from airflow_provider_typecheck.jobs.topology import EVENTS_EXCHANGE

        try:
            connection = await stack.enter_async_context(await services.rabbitmq_aconnect())
            channel = await connection.channel()
            exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, routing_key=f"validation.*.{self.import_name}")
        except Exception as exc:
            # The status in Redis is enough; the event only makes the wake-up prompt.
            self.log.warning("No result events (%s); polling the status every %s s", exc, self.poll_interval)
            return asyncio.sleep
        messages = await stack.enter_async_context(queue.iterator(no_ack=True))

        async def wait(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(anext(messages), left)
                except (TimeoutError, StopAsyncIteration):
                    return
                with contextlib.suppress(ValueError):
                    if json.loads(message.body).get("task_id") == self.validation_id:
                        return

        return wait

    async def on_kill(self) -> None:
        """The task was cleared or marked while deferred: the worker need not finish the job."""
        services = self._services()
        await asyncio.to_thread(services.cancel_validation, self.validation_id, reason="the Airflow task was stopped")
