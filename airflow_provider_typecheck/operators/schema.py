"""Upload a JSON Schema to the schema registry, or pin the version a DAG validates against."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SchemaUploadOperator(BaseOperator):
    """
    Store ``schema`` (or the JSON file at ``schema_path``) as the active version of ``import_name``.

    The registry is the package's schema store (``TYPECHECK_SCHEMA_STORE``: MongoDB or
    PostgreSQL, reached through the Airflow connections the settings name). The schema is
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (schema is None) == (schema_path is None):
            raise ValueError("give exactly one of schema or schema_path")
        self.import_name = import_name
        self.schema = schema
        self.schema_path = schema_path
        self.new_version = new_version

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_typecheck.services import get_services

        store = get_services().schemas
        actor = f"airflow:{self.dag_id}.{self.task_id}"
        result = store.put(self.import_name, self._load(), new_version=self.new_version, actor=actor)
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
