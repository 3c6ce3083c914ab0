"""Infer a starting JSON Schema from a spreadsheet's cells, for people to edit.

By default the schema generalises: it states what kind of value each column
holds, not the exact extremes seen, so the file it came from validates
against it and so do other files of the same kind. ``strict`` adds the exact
observed bounds and lengths and refuses columns beyond the header's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow_provider_typecheck.validation.cells import FALSE_SPELLINGS, TRUE_SPELLINGS
from airflow_provider_typecheck.validation.formats import FORMAT_RULES
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.limits import WorkbookLimits
from airflow_provider_typecheck.validation.readers import Table, open_table

ENUM_MAX_VALUES = 10
INTEGER = r"^[+-]?[0-9]+$"
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# A numeral with a leading zero (``001001``) is a code: as a number it would lose the zeros.
LEADING_ZERO = r"^[+-]?0[0-9]"
DIGITS = r"^[0-9]+$"


def _column_schema(values: pl.Series, *, strict: bool, whole: bool) -> dict[str, Any]:
    text = values.filter(values.is_not_null() & (values.str.len_bytes() > 0))
    if text.len() == 0:
        return {"type": ["string", "null"]}
    if text.is_in(TRUE_SPELLINGS + FALSE_SPELLINGS).all():
        return {"type": "boolean"}
    codes = text.str.contains(LEADING_ZERO).any()
    if not codes and text.str.contains(INTEGER).all():
        schema: dict[str, Any] = {"type": "integer"}
        as_int = text.cast(pl.Int64, strict=False)
        if as_int.null_count() == 0:
            if strict:
                schema["minimum"], schema["maximum"] = int(as_int.min()), int(as_int.max())
            elif as_int.min() >= 0:
                schema["minimum"] = 0
        return schema
    if not codes and text.str.contains(NUMBER).all():
        return {"type": "number"}
    schema = {"type": "string"}
    if codes and text.str.contains(DIGITS).all():
        lengths = text.str.len_chars()
        same = lengths.min() == lengths.max()
        schema["pattern"] = f"^[0-9]{{{lengths.min()}}}$" if strict and same else DIGITS
        return schema
    frame = pl.DataFrame({"v": text})
    for name in ("date", "date-time", "email", "uuid", "ipv4"):
        accepted = frame.select(FORMAT_RULES[name].accepts(pl.col("v")).all()).item()
        if accepted:
            schema["format"] = name
            return schema
    distinct = text.unique()
    # From a sample, a short list of values is only a guess about the rest of the file.
    if (whole or strict) and distinct.len() <= ENUM_MAX_VALUES and text.len() >= 2 * distinct.len():
        schema["enum"] = sorted(distinct.to_list())
    elif strict:
        lengths = text.str.len_chars()
        schema["minLength"], schema["maxLength"] = int(lengths.min()), int(lengths.max())
    return schema


def infer_schema(
    source: str | os.PathLike[str], *, sample: int | None = None, sheet: str | int | None = None,
    delimiter: str | None = None, encoding: str | None = None, header_row: int | str | None = None,
    strict: bool = False, cell_range: str | None = None, columns: Sequence[str] | str | None = None,
    strict_header: bool = False, workbook_limits: WorkbookLimits = WorkbookLimits(),
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """A draft 2020-12 schema: a type per column, ``required`` for columns with no empty cell,
    ``enum`` for low-cardinality text, formats where every value has one, codes with leading
    zeros as digit strings.

    The file is read as :func:`~.engine.validate_file` reads it, with the same
    options and limits. Every row is read unless ``sample`` caps them.
    ``strict`` adds the exact observed ``minimum``/``maximum`` and lengths and
    ``additionalProperties: false``. The reader's warnings (an encoding guessed,
    header cells named) and the inference's own are appended to ``warnings``.
    See :func:`infer_table`.
    """
    table = open_table(source, sheet=sheet, delimiter=delimiter, encoding=encoding, header_row=header_row,
                       cell_range=cell_range, columns=columns, strict_header=strict_header,
                       workbook_limits=workbook_limits)
    try:
        return infer_table(table, sample=sample, strict=strict, title=os.path.basename(str(source)))
    finally:
        if warnings is not None:
            warnings.extend(table.warnings)


def infer_table(table: Table, *, sample: int | None = None, strict: bool = False, title: str | None = None,
                ) -> dict[str, Any]:
    """The schema :func:`infer_schema` describes, for an opened table.

    When every row was read, the schema is then checked against them by the
    engine itself: a column whose rule still fails one of its own cells is left
    unconstrained (with a warning in ``table.warnings``), so the file always
    validates against the schema inferred from it. Rows with more or fewer
    fields than the header fail any schema: they are refused with a
    :class:`ReadError` that names them.
    """
    taken: list[pl.DataFrame] = []
    rows = 0
    for batch in table.batches():
        taken.append(batch if sample is None else batch.head(sample - rows))
        rows += taken[-1].height
        if sample is not None and rows >= sample:
            break  # a big file streams: the rest is never read
    whole = sample is None or rows < sample
    if whole and table.ragged:
        first = table.ragged[0]
        raise ReadError(
            f"{table.name}: {len(table.ragged):,} row(s) have more or fewer fields than the header (row "
            f"{table.header_row}): row {first.row} has {first.fields}, the header {first.expected}; no schema makes "
            "such rows valid: mend them, or choose the table (--header-row, --range)"
        )
    frame = pl.concat(taken) if taken else pl.DataFrame(schema={c: pl.String for c in table.header})
    properties: dict[str, Any] = {}
    required = []
    for column in table.header:
        values = frame.get_column(column)
        properties[column] = _column_schema(values, strict=strict, whole=whole)
        empty = values.is_null() | (values.str.len_bytes() == 0)
        if frame.height and not empty.any():
            required.append(column)
        elif frame.height and properties[column].get("type") not in (None, ["string", "null"]):
            declared = properties[column]["type"]
            properties[column]["type"] = [declared, "null"]
            if "enum" in properties[column]:
                properties[column]["enum"].append(None)
    del taken, frame
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title if title is not None else os.path.basename(table.name),
        "type": "object",
        "properties": properties,
        "required": required,
    }
    if strict:
        schema["additionalProperties"] = False
    if whole:
        _loosen_what_fails(table, schema)
    return schema


def _loosen_what_fails(table: Table, schema: dict[str, Any]) -> None:
    """Check ``schema`` against the table's rows with the engine; leave unconstrained the columns it fails."""
    from airflow_provider_typecheck.validation.engine import validate_table

    report = validate_table(table, schema, max_errors=1)
    if report.is_valid:
        return
    failing = sorted(column for column in report.errors_by_column if column)
    for column in failing:
        schema["properties"][column] = {}
        if column in schema["required"]:
            schema["required"].remove(column)
    if any(not column for column in report.errors_by_column):  # errors about whole rows
        schema["required"] = []
        schema.pop("additionalProperties", None)
    table.warnings.append(
        f"the rule inferred for column(s) {', '.join(repr(c) for c in failing)} failed some of their own cells "
        "(the engine and the inference read them differently); those columns are left unconstrained"
    )
