"""``GET /metrics``: the API's Prometheus metrics, at the app's root (``/typecheck/metrics`` in Airflow).

Open by default, as a scrape target usually is (behind the network's own walls); with
``TYPECHECK_METRICS_TOKEN`` set it asks for ``Authorization: Bearer <token>``, a token
of its own rather than a user's JWT, because Prometheus sends one fixed credential and
a user's token expires within a day. Its labels carry nothing a user sent (no import
names, no file names): route templates, methods, status codes, states and queue names.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from airflow_provider_typecheck.api.deps import SettingsDep

if TYPE_CHECKING:
    from fastapi import FastAPI

    from airflow_provider_typecheck.metrics import ApiMetrics
    from airflow_provider_typecheck.services import Services

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """The API's metrics in Prometheus' text format (the services are read now, each bounded by a timeout)."""
    if settings.metrics_token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "metrics need the metrics token",
                                headers={"WWW-Authenticate": "Bearer"})
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)


def build_metrics(services: Services) -> ApiMetrics:
    """The app's metrics; ``services`` (the composition root) is read only when scraped."""
    from airflow_provider_typecheck.api.health import read_queue_depths
    from airflow_provider_typecheck.metrics import ApiMetrics, ServiceReadings

    def cache_hits_misses() -> tuple[int, int]:
        stats = services.cache.stats()
        return stats.hits, stats.misses

    return ApiMetrics(ServiceReadings(
        queue_depths=lambda: read_queue_depths(services, services.settings.api_health_timeout_seconds),
        state_counts=lambda: services.tasks.state_counts(),
        live_workers=lambda: services.tasks.live_workers(),
        cache_hits_misses=cache_hits_misses,
    ))


class HttpMetricsMiddleware:
    """Counts each HTTP request by the template of the route it matched (never its raw path) and status."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(template, scope.get("method", ""), status_code, time.perf_counter() - started)


def install(app: FastAPI, services: Services) -> None:
    """Serve ``/metrics`` on ``app`` and count its requests."""
    app.state.metrics = build_metrics(services)
    app.include_router(router)
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.metrics)
