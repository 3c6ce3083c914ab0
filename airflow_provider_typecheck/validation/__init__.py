"""The validation core: spreadsheets in, exact JSON Schema verdicts out.

Nothing here imports Airflow, FastAPI or a service client; the provider's
operators, the workers and the REST API all build on these functions.
"""

from __future__ import annotations

from airflow_provider_typecheck.validation.engine import (
    CompiledSchema,
    compile_schema,
    validate_file,
    validate_frame,
    validate_table,
)
from airflow_provider_typecheck.validation.errors import ReadError, SchemaError, TypecheckError
from airflow_provider_typecheck.validation.readers import open_table
from airflow_provider_typecheck.validation.report import CellError, ValidationReport
from airflow_provider_typecheck.validation.schema import check_schema, load_schema

__all__ = [
    "CellError",
    "CompiledSchema",
    "ReadError",
    "SchemaError",
    "TypecheckError",
    "ValidationReport",
    "check_schema",
    "compile_schema",
    "load_schema",
    "open_table",
    "validate_file",
    "validate_frame",
    "validate_table",
]
