"""The app factory: the seed's REST surface under ``/api/v1``.

``create_app()`` builds a new app each call and connects to nothing; its services
(:mod:`airflow_provider_typecheck.services`) build clients on the first request. Errors are JSON with a one-line ``detail``:
the stores' error classes map to status codes here, once, so routes stay thin.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from airflow_provider_typecheck.api.deps import AppServices
from airflow_provider_typecheck.api.middleware import BodyLimit, SecurityHeaders
from airflow_provider_typecheck.api.models import ErrorBody
from airflow_provider_typecheck.registry.errors import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RegistryError,
)
from airflow_provider_typecheck.services import Services, get_services
from airflow_provider_typecheck.settings import TypecheckSettings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

# Store errors by kind, most specific first (an unknown kind of RegistryError is a 500).
_STATUS_OF: tuple[tuple[type[RegistryError], int], ...] = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (Conflict, status.HTTP_409_CONFLICT),
    (InvalidInput, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (AuthenticationError, status.HTTP_401_UNAUTHORIZED),
    (ConfigurationError, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def create_app(settings: TypecheckSettings | None = None) -> FastAPI:
    """
    Build the REST API.

    :param settings: defaults to :func:`~airflow_provider_typecheck.settings.get_settings`.
    """
    # One app of the process shares the process's services (the plugin's views use them too).
    services = get_services() if settings is None else Services(settings)
    from airflow_provider_typecheck.api.routes import cache, healthcheck, login, metrics, schemas, users, validation
    from airflow_provider_typecheck.logs import install_control_escaping

    install_control_escaping()  # paths, names and messages in log lines come from users

    # No Swagger UI: FastAPI's loads its script from a CDN. The OpenAPI document is served
    # from here, and not at all when TYPECHECK_API_DOCS=false.
    app = FastAPI(
        title="typecheck",
        summary="Validate spreadsheets against versioned JSON Schemas.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json" if services.settings.api_docs else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = services.settings
    app.state.services = AppServices(services)
    for module in (login, users, schemas, validation, healthcheck, cache):
        app.include_router(module.router, prefix=API_PREFIX)
    app.add_middleware(BodyLimit, caps=lambda: body_caps(services.settings))
    app.add_middleware(SecurityHeaders)
    metrics.install(app, services)
    _add_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def body_caps(settings: TypecheckSettings) -> list[tuple[str, int, str]]:
    """What a request body may weigh, by route: an upload its file plus framing, a schema the
    schema limit; every other body is small (:data:`~.middleware.SMALL_BODY_BYTES`)."""
    from airflow_provider_typecheck.api.uploads import FRAMING_ALLOWANCE, too_large_detail

    return [
        (f"{API_PREFIX}/validation/upload/", settings.max_upload_bytes + FRAMING_ALLOWANCE,
         too_large_detail(settings.max_upload_bytes)),
        (f"{API_PREFIX}/schemas/upload/", settings.max_schema_bytes,
         f"the schema is larger than TYPECHECK_MAX_SCHEMA_BYTES ({settings.max_schema_bytes} bytes)"),
    ]


def _error(status_code: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def malformed_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        return _error(422, f"{'.'.join(first['loc'])}: {first['msg']}", errors=errors)

    @app.exception_handler(RegistryError)
    async def store_error(request: Request, exc: RegistryError) -> JSONResponse:
        for kind, code in _STATUS_OF:
            if isinstance(exc, kind):
                if code == status.HTTP_503_SERVICE_UNAVAILABLE:
                    log.error("refusing a request: %s", exc.message)
                headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
                return _error(code, exc.message, headers)
        return await unexpected(request, exc)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> JSONResponse:
        return _error(status.HTTP_400_BAD_REQUEST, "the client closed the connection before the body was sent")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        unavailable = _unavailable_service(exc)
        if unavailable is not None:
            log.error("%s unavailable while serving %s: %s", unavailable, request.url.path, exc)
            return _error(status.HTTP_503_SERVICE_UNAVAILABLE, f"{unavailable} is unavailable; try again later")
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")


def _unavailable_service(exc: BaseException) -> str | None:
    """Name the backing service when ``exc`` says it cannot be reached, else None."""
    from airflow_provider_typecheck.jobs.publish import PublishError

    if isinstance(exc, PublishError):
        return "RabbitMQ"
    import psycopg
    import psycopg2
    import redis

    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return "Redis"
    if isinstance(exc, (psycopg.OperationalError, psycopg2.OperationalError)):
        return "PostgreSQL"
    return None


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every 422 described as the body this app really sends."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes, servers=app.servers
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("ValidationError", None)
        schemas["HTTPValidationError"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = document
    return app.openapi_schema
