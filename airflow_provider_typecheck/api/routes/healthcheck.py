"""Health: every backing service, timed (auth); and a bare liveness answer (no auth)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from airflow_provider_typecheck.api.deps import CurrentUser, SettingsDep, ServicesDep
from airflow_provider_typecheck.api.health import check_health, probes, with_liveness, without_details
from airflow_provider_typecheck.api.models import HealthOut, SimpleHealth
from airflow_provider_typecheck.api.responses import errors

router = APIRouter(prefix="/healthcheck", tags=["healthcheck"])


@router.get(
    "",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "At least one service is down."}, **errors(401)},
)
def healthcheck(user: CurrentUser, services: ServicesDep, settings: SettingsDep) -> JSONResponse:
    """
    PostgreSQL, Redis, RabbitMQ, the schema store and the file store, each probed with a short
    timeout; and the workers: how many are alive, how many jobs wait (``degraded`` when jobs
    wait and no worker is alive). Why a service is down (its host, port, error) is told to
    admins only.
    """
    readings: dict[str, dict[str, int] | int] = {}
    health = check_health(probes(services, settings, readings), settings.api_health_timeout_seconds)
    health = with_liveness(health, readings)
    if user.role != "admin":
        health = without_details(health)
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if health.status == "ok" else 503)


@router.get("/simple")
def healthcheck_simple() -> SimpleHealth:
    """The API answers (no token needed, nothing probed)."""
    return SimpleHealth()
