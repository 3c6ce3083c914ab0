"""The engine: run a compiled schema over a spreadsheet, batch by batch, into a report.

Data flows one way: reader -> plan -> checks -> report. Each batch is checked
by one Polars query; counts add up exactly across batches, the error list
stops at ``max_errors``, and invalid/valid rows stream to their files.

Its parts: :mod:`.planning` (the compiled schema, plans and label columns),
:mod:`.verdicts` (a batch's verdicts), :mod:`.tally` (counts and labels),
:mod:`.explain` (python-jsonschema's messages), :mod:`.errorlist` (the capped
error list), :mod:`.sinks` (the row files) and :mod:`.runners` (the runs).
"""

from __future__ import annotations

from airflow_provider_typecheck.validation.engine.planning import CompiledSchema, compile_schema
from airflow_provider_typecheck.validation.engine.runners import validate_file, validate_frame, validate_table
from airflow_provider_typecheck.validation.errors import OutputError, ReadError, SchemaError
from airflow_provider_typecheck.validation.outputs import check_outputs

__all__ = [
    "CompiledSchema", "OutputError", "ReadError", "SchemaError", "check_outputs", "compile_schema", "validate_file",
    "validate_frame", "validate_table",
]
