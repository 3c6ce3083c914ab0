"""Infer a starting JSON Schema from a spreadsheet's cells, for people to edit."""

from __future__ import annotations

import os
from typing import Any

import polars as pl

from airflow_provider_typecheck.validation.cells import FALSE_SPELLINGS, TRUE_SPELLINGS
from airflow_provider_typecheck.validation.formats import FORMAT_RULES
from airflow_provider_typecheck.validation.readers import open_table

ENUM_MAX_VALUES = 10
INTEGER = r"^[+-]?[0-9]+$"
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _column_schema(values: pl.Series) -> dict[str, Any]:
    text = values.filter(values.is_not_null() & (values.str.len_bytes() > 0))
    if text.len() == 0:
        return {"type": ["string", "null"]}
    if text.is_in(TRUE_SPELLINGS + FALSE_SPELLINGS).all():
        return {"type": "boolean"}
    if text.str.contains(INTEGER).all():
        as_int = text.cast(pl.Int64, strict=False)
        if as_int.null_count() == 0:
            return {"type": "integer", "minimum": int(as_int.min()), "maximum": int(as_int.max())}
        return {"type": "integer"}
    if text.str.contains(NUMBER).all():
        return {"type": "number"}
    schema: dict[str, Any] = {"type": "string"}
    frame = pl.DataFrame({"v": text})
    for name in ("date", "date-time", "email", "uuid", "ipv4"):
        accepted = frame.select(FORMAT_RULES[name].accepts(pl.col("v")).all()).item()
        if accepted:
            schema["format"] = name
            return schema
    distinct = text.unique()
    if distinct.len() <= ENUM_MAX_VALUES and text.len() >= 2 * distinct.len():
        schema["enum"] = sorted(distinct.to_list())
    else:
        lengths = text.str.len_chars()
        schema["minLength"], schema["maxLength"] = int(lengths.min()), int(lengths.max())
    return schema


def infer_schema(
    source: str | os.PathLike[str], *, sample: int = 10_000, sheet: str | int | None = None,
    delimiter: str | None = None,
) -> dict[str, Any]:
    """A draft 2020-12 schema: a type per column, ``required`` for columns with no empty cell,
    ``enum`` for low-cardinality text, formats where every value has one."""
    table = open_table(source, sheet=sheet, delimiter=delimiter)
    # Only the sample is read: a big file streams and stops after its first batches.
    taken: list[pl.DataFrame] = []
    for batch in table.batches():
        taken.append(batch.head(sample - sum(b.height for b in taken)))
        if sum(b.height for b in taken) >= sample:
            break
    frame = pl.concat(taken) if taken else pl.DataFrame(schema={c: pl.String for c in table.header})
    properties: dict[str, Any] = {}
    required = []
    for column in table.header:
        values = frame.get_column(column)
        properties[column] = _column_schema(values)
        empty = values.is_null() | (values.str.len_bytes() == 0)
        if frame.height and not empty.any():
            required.append(column)
        elif frame.height and properties[column].get("type") not in (None, ["string", "null"]):
            declared = properties[column]["type"]
            properties[column]["type"] = [declared, "null"]
            if "enum" in properties[column]:
                properties[column]["enum"].append(None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": os.path.basename(str(source)),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
