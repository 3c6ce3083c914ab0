"""The Airflow plugin: the REST API under ``/typecheck``, and report pages in Airflow's UI.

Airflow imports plugins in every process (scheduler, DAG processor, workers), so
nothing is built here: the mounted app is a thin ASGI shim that builds the real
one (:func:`airflow_provider_typecheck.api.create_app`) on its first request.
Airflow does not guard plugin routes; every route of the app checks its own token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_typecheck.lazy import Once
from airflow_provider_typecheck.plugins.paths import RECENT_VIEW, TASK_INSTANCE_VIEW, UI_PREFIX, URL_PREFIX

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


def _create_api_app() -> ASGIApp:
    from airflow_provider_typecheck.api import create_app

    return create_app()


def _create_ui_app() -> ASGIApp:
    from airflow_provider_typecheck.plugins.views import create_ui_app

    return create_ui_app()


class LazyTypecheckApp:
    """An ASGI app that builds ``factory()`` (default: the typecheck API) on first use, then passes everything to it."""

    def __init__(self, factory: Callable[[], ASGIApp] = _create_api_app) -> None:
        self._app = Once(factory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app.get()(scope, receive, send)


class TypecheckPlugin(AirflowPlugin):
    """
    The provider's face in Airflow's UI and API server.

    Extend by adding class attributes (``external_views``, ``react_apps``, ...) next to
    ``fastapi_apps``; each is a list of dicts as ``AirflowPlugin`` documents them.
    """

    name = "typecheck"
    fastapi_apps: list[dict[str, Any]] = [
        # Before the REST API: its mount at /typecheck would otherwise take /typecheck/ui too.
        {"app": LazyTypecheckApp(_create_ui_app), "url_prefix": UI_PREFIX, "name": "typecheck pages in Airflow's UI"},
        {"app": LazyTypecheckApp(), "url_prefix": URL_PREFIX, "name": "typecheck REST API"},
    ]
    external_views: list[dict[str, Any]] = [
        {
            "name": "Validation report",
            "href": f"{TASK_INSTANCE_VIEW}?dag_id={{DAG_ID}}&run_id={{RUN_ID}}&task_id={{TASK_ID}}"
            "&map_index={MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "typecheck-report",
        },
        {
            "name": "Validations",
            "href": RECENT_VIEW,
            "destination": "nav",
            "category": "browse",
            "url_route": "typecheck-validations",
        },
    ]
