"""Probes of the services the API depends on, each timed and bounded by a timeout.

The probes run side by side, so the healthcheck takes the slowest probe's time (at
most the timeout), not their sum. A probe still hanging at the timeout is reported
as down and left to finish in its thread.

Liveness rides on two probes: Redis counts the workers whose heartbeat is live, RabbitMQ
says how many jobs wait. Jobs waiting with no live worker make the whole ``degraded``:
otherwise a job published while no worker runs stays ``queued`` with no signal anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from airflow_provider_typecheck.api.models import HealthOut, ServiceHealth, WorkersHealth

if TYPE_CHECKING:
    from airflow_provider_typecheck.services import Services
    from airflow_provider_typecheck.settings import TypecheckSettings


def read_queue_depths(services: Services, timeout: float) -> dict[str, int]:
    """Messages ready in the validation and dead-letter queues, over a short-lived connection."""
    from airflow_provider_typecheck.jobs.topology import queue_depths

    connection = services.rabbitmq_connect(timeout=timeout)
    try:
        return queue_depths(connection.channel())
    finally:
        connection.close()


def probes(
    services: Services, settings: TypecheckSettings, readings: dict[str, dict[str, int] | int] | None = None
) -> dict[str, Callable[[], object]]:
    """
    One callable per service; each raises when its service does not answer properly.

    :param readings: filled with ``workers_alive`` (Redis) and ``queues`` (RabbitMQ) as the
        probes answer, for :func:`with_liveness`.
    """
    found = readings if readings is not None else {}

    def postgresql() -> object:
        services.users.ping(settings.api_health_timeout_seconds)
        return True

    def redis() -> object:
        services.tasks.ping()
        found["workers_alive"] = services.tasks.live_workers()
        return True

    def rabbitmq() -> object:
        found["queues"] = read_queue_depths(services, settings.api_health_timeout_seconds)
        return True

    def schema_store() -> object:
        services.schemas.ping(settings.api_health_timeout_seconds)
        return True

    def file_store() -> object:
        services.files.ping()
        return True

    return {
        "postgresql": postgresql,
        "redis": redis,
        "rabbitmq": rabbitmq,
        "schema_store": schema_store,
        "file_store": file_store,
    }


def check_health(checks: dict[str, Callable[[], object]], timeout: float) -> HealthOut:
    """Run every probe at once; the whole is ``ok`` only if each answered within ``timeout``."""
    results: dict[str, ServiceHealth] = {}
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="typecheck-health")
    started = time.perf_counter()
    try:
        futures = {pool.submit(_timed, probe): name for name, probe in checks.items()}
        wait(futures, timeout=timeout)
        for future, name in futures.items():
            if future.done():
                results[name] = future.result()
            else:
                elapsed = (time.perf_counter() - started) * 1000
                results[name] = ServiceHealth(
                    status="down", latency_ms=round(elapsed, 1), detail=f"no answer within {timeout:g} s"
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    overall = "ok" if all(r.status == "ok" for r in results.values()) else "degraded"
    return HealthOut(status=overall, services=dict(sorted(results.items())))


def without_details(health: HealthOut) -> HealthOut:
    """``health`` with each service's error detail left out: it names internal hosts and ports."""
    return health.model_copy(update={"services": {
        name: service.model_copy(update={"detail": None}) for name, service in health.services.items()
    }})


def with_liveness(health: HealthOut, readings: dict[str, dict[str, int] | int]) -> HealthOut:
    """``health`` with the workers' liveness; ``degraded`` when jobs wait and no worker is alive."""
    from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, VALIDATION_QUEUE

    alive = readings.get("workers_alive")
    queues = readings.get("queues")
    waiting = queues.get(VALIDATION_QUEUE) if isinstance(queues, dict) else None
    dead = queues.get(DEAD_LETTER_QUEUE) if isinstance(queues, dict) else None
    stranded = alive == 0 and bool(waiting)
    workers = WorkersHealth(status="down" if stranded else "ok", alive=alive if isinstance(alive, int) else None,
                            jobs_waiting=waiting, dead_letters=dead)
    status = "degraded" if stranded else health.status
    return health.model_copy(update={"status": status, "workers": workers})


def _timed(probe: Callable[[], object]) -> ServiceHealth:
    started = time.perf_counter()
    try:
        probe()
    except Exception as err:  # noqa: BLE001 - any failure of a probe means its service is down
        detail = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        return ServiceHealth(status="down", latency_ms=_ms_since(started), detail=detail)
    return ServiceHealth(status="ok", latency_ms=_ms_since(started), detail=None)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
