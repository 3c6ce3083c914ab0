"""The Airflow plugin: mounts the REST API in ``airflow api-server`` under ``/typecheck``.

Airflow imports plugins in every process (scheduler, DAG processor, workers), so
nothing is built here: the mounted app is a thin ASGI shim that builds the real
one (:func:`airflow_provider_typecheck.api.create_app`) on its first request.
Airflow does not guard plugin routes; every route of the app checks its own token.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

URL_PREFIX = "/typecheck"


class LazyTypecheckApp:
    """An ASGI app that builds the typecheck API on first use and then passes everything to it."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _get(self) -> ASGIApp:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_provider_typecheck.api import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._get()(scope, receive, send)


class TypecheckPlugin(AirflowPlugin):
    """
    The provider's face in Airflow's UI and API server.

    Extend by adding class attributes (``external_views``, ``react_apps``, ...) next to
    ``fastapi_apps``; each is a list of dicts as ``AirflowPlugin`` documents them.
    """

    name = "typecheck"
    fastapi_apps: list[dict[str, Any]] = [
        {"app": LazyTypecheckApp(), "url_prefix": URL_PREFIX, "name": "typecheck REST API"},
    ]
