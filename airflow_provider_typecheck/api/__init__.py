"""The REST API (FastAPI): the seed's surface under ``/api/v1``, secured on every route.

``create_app()`` builds it; ``typecheck api`` serves it with uvicorn; the Airflow plugin
(:mod:`airflow_provider_typecheck.plugins`) mounts it in ``airflow api-server`` under
``/typecheck``. Nothing connects, reads settings or builds an app at import.
"""

from __future__ import annotations

from airflow_provider_typecheck.api.app import create_app

__all__ = ["create_app"]
