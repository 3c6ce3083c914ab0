"""Probes of the services the API depends on, each timed and bounded by a timeout.

The probes run side by side, so the healthcheck takes the slowest probe's time (at
most the timeout), not their sum. A probe still hanging at the timeout is reported
as down and left to finish in its thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from airflow_provider_typecheck.api.models import HealthOut, ServiceHealth

if TYPE_CHECKING:
    from airflow_provider_typecheck.api.deps import Stores
    from airflow_provider_typecheck.settings import TypecheckSettings


def probes(stores: Stores, settings: TypecheckSettings) -> dict[str, Callable[[], object]]:
    """One callable per service; each raises when its service does not answer properly."""

    def postgresql() -> object:
        stores.users.ping(settings.api_health_timeout_seconds)
        return True

    def redis() -> object:
        stores.tasks.ping()
        return True

    def rabbitmq() -> object:
        stores.rabbitmq_connect(timeout=settings.api_health_timeout_seconds).close()
        return True

    def schema_store() -> object:
        stores.schemas.ping(settings.api_health_timeout_seconds)
        return True

    def file_store() -> object:
        stores.files.ping()
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
