"""The validation core: spreadsheets in, exact JSON Schema verdicts out.

Nothing here imports Airflow, FastAPI or a service client; the provider's
operators, the workers and the REST API all build on these functions.

The names below load on first use, so that ``validation.readers`` can start
reading a file before python-jsonschema (a tenth of a second) is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.engine import (
        CompiledSchema,
        compile_schema,
        validate_file,
        validate_frame,
        validate_table,
    )
    from airflow_provider_typecheck.validation.errors import OutputError, ReadError, SchemaError, TypecheckError
    from airflow_provider_typecheck.validation.limits import WorkbookLimits
    from airflow_provider_typecheck.validation.outputs import check_outputs
    from airflow_provider_typecheck.validation.readers import open_table
    from airflow_provider_typecheck.validation.report import CellError, ValidationReport
    from airflow_provider_typecheck.validation.schema import check_schema, load_schema, read_schema

_HOMES = {
    "CompiledSchema": "engine",
    "check_outputs": "outputs",
    "compile_schema": "engine",
    "validate_file": "engine",
    "validate_frame": "engine",
    "validate_table": "engine",
    "OutputError": "errors",
    "ReadError": "errors",
    "SchemaError": "errors",
    "TypecheckError": "errors",
    "WorkbookLimits": "limits",
    "open_table": "readers",
    "CellError": "report",
    "ValidationReport": "report",
    "check_schema": "schema",
    "load_schema": "schema",
    "read_schema": "schema",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
