"""Upload a JSON Schema to the schema registry, or pin the version a DAG validates against."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from airflow_provider_typecheck.operators.validate import SCHEMA_STORES, services_for

if TYPE_CHECKING:
    from airflow.sdk import Context


class SchemaUploadOperator(BaseOperator):
    """
    Store ``schema`` (or the JSON file at ``schema_path``) as the active version of ``import_name``.

    The registry is the package's schema store (``schema_store``, default
    ``TYPECHECK_SCHEMA_STORE``: MongoDB or PostgreSQL, reached through the Airflow
    connection named here or by the settings). The schema is
    meta-validated first; an invalid one fails the task with the keyword and JSON pointer
    at fault. Uploading the active schema again writes nothing (``unchanged``), so the task
    is safe to re-run.

    Returns ``{"import_name", "version", "status"}``, ``status`` being ``created``,
    ``new_version``, ``replaced`` or ``unchanged`` (the REST API's words): downstream tasks
    pin ``version`` with ``{{ ti.xcom_pull(task_ids=...)["version"] }}``.

    :param import_name: the registry entry. (templated)
    :param schema: the JSON Schema as a dict or JSON text. (templated)
    :param schema_path: a JSON Schema file (a path or any fsspec URI), instead of ``schema``. (templated)
    :param new_version: add a version (True) or replace the active one in place (False).
    :param postgres_conn_id: the PostgreSQL connection (with ``schema_store="postgres"``);
        default ``TYPECHECK_POSTGRES_CONN_ID``.
    :param mongo_conn_id: the MongoDB connection (with ``schema_store="mongo"``); default
        ``TYPECHECK_MONGO_CONN_ID``.
    :param schema_store: ``mongo`` or ``postgres``; default ``TYPECHECK_SCHEMA_STORE``.
    """

    template_fields: Sequence[str] = ("import_name", "schema", "schema_path")
    template_fields_renderers = {"schema": "json"}
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        import_name: str,
        schema: dict[str, Any] | str | None = None,
        schema_path: str | None = None,
        new_version: bool = False,
        postgres_conn_id: str | None = None,
        mongo_conn_id: str | None = None,
        schema_store: Literal["mongo", "postgres"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (schema is None) == (schema_path is None):
            raise ValueError("give exactly one of schema or schema_path")
        if schema_store is not None and schema_store not in SCHEMA_STORES:
            raise ValueError(f"schema_store must be 'mongo' or 'postgres', not {schema_store!r}")
        self.import_name = import_name
        self.schema = schema
        self.schema_path = schema_path
        self.new_version = new_version
        self.postgres_conn_id = postgres_conn_id
        self.mongo_conn_id = mongo_conn_id
        self.schema_store = schema_store
        self._own_services: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        services = services_for(self, ("postgres_conn_id", "mongo_conn_id", "schema_store"))
        actor = f"airflow:{self.dag_id}.{self.task_id}"
        try:
            result = services.schemas.put(self.import_name, self._load(), new_version=self.new_version, actor=actor)
        finally:
            if self._own_services is not None:
                self._own_services.close()
                self._own_services = None
        self.log.info("Schema %s version %s: %s", self.import_name, result.version, result.outcome.value)
        return {"import_name": result.import_name, "version": result.version, "status": result.outcome.value}

    def _load(self) -> dict[str, Any]:
        if self.schema_path is not None:
            import fsspec

            with fsspec.open(self.schema_path, "r", encoding="utf-8-sig") as handle:
                return json.load(handle)
        if isinstance(self.schema, str):
            return json.loads(self.schema)
        return self.schema  # type: ignore[return-value]
