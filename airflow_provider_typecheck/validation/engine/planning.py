"""Planning: a schema compiled once per process, its plans per header, and a plan's label columns."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any

import referencing.exceptions

from airflow_provider_typecheck.validation.cells import Cell
from airflow_provider_typecheck.validation.compiler import Check, Plan, build_plan, plan_cells
from airflow_provider_typecheck.validation.errors import SchemaError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH
from airflow_provider_typecheck.validation.references import new_validator
from airflow_provider_typecheck.validation.schema import (
    bounded_validator_class,
    check_schema,
    checked_text,
    parsed_text,
    validator_class,
)

# Rows read ahead to tell which columns repeat their values (the first batch, when reading whole).
SAMPLE_ROWS = 20_000
# A sample of fewer rows calls no column repetitive: it says too little.
SAMPLE_MIN_ROWS = 1000


class CompiledSchema:
    """A checked schema, its python-jsonschema validator, and its plans per header."""

    def __init__(
        self, schema: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH, draft: str | None = None,
    ) -> None:
        """``draft``: what :func:`check_schema` said of ``schema``, when the caller checked it already."""
        self.draft = draft or check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
        self.schema = schema
        cls = bounded_validator_class(validator_class(schema))
        self.validator = new_validator(cls, schema, format_checker=cls.FORMAT_CHECKER)
        self._cells: dict[tuple[tuple[str, ...], frozenset[str]], tuple[Cell, ...]] = {}
        self._plans: dict[tuple[tuple[str, ...], frozenset[str]], Plan] = {}

    def cells(self, header: Sequence[str], repetitive: Collection[str] = ()) -> tuple[Cell, ...]:
        """The header's cells; ``repetitive`` names the columns that repeat their values a lot."""
        key = (tuple(header), frozenset(repetitive))
        if key not in self._cells:
            try:
                self._cells[key] = plan_cells(self.schema, self.validator, key[0], key[1])
            except referencing.exceptions.Unresolvable as err:
                raise SchemaError(f"$ref cannot be resolved within this schema: {err}") from None
        return self._cells[key]

    def plan(self, header: Sequence[str], repetitive: Collection[str] = ()) -> Plan:
        """The vectorised checks for this header: those of repetitive columns run per distinct value."""
        key = (tuple(header), frozenset(repetitive))
        if key not in self._plans:
            cells = self.cells(header, repetitive)
            try:
                self._plans[key] = build_plan(self.schema, self.validator, cells)
            except referencing.exceptions.Unresolvable as err:
                raise SchemaError(f"$ref cannot be resolved within this schema: {err}") from None
        return self._plans[key]


# Keyed by the text itself (Python caches a string's hash): no digest, whose hashlib costs every start.
@lru_cache(maxsize=128)
def _compile_cached(canonical: str, draft: str) -> CompiledSchema:
    # A parse of its own: the caller's schema may change after this.
    return CompiledSchema(parsed_text(canonical), draft=draft)


def compile_schema(
    schema: Mapping[str, Any] | CompiledSchema, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
    max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
) -> CompiledSchema:
    """Check and compile ``schema``; the same content compiles once per process.

    ``max_bytes`` and ``max_depth`` are :func:`check_schema`'s limits.
    """
    if isinstance(schema, CompiledSchema):
        return schema
    # Checked first: it refuses what is not an object, and what nests too deeply to serialise.
    # Its compact JSON keeps the key order, not sorted: python-jsonschema applies keywords
    # in the schema's order, which decides the order of errors and where is_valid stops.
    canonical, draft = checked_text(schema, max_bytes=max_bytes, max_depth=max_depth)
    return _compile_cached(canonical, draft)


def repetitive_columns(sample: pl.DataFrame | None, rows: int = SAMPLE_ROWS) -> list[str]:
    """The columns whose values repeat a lot in the sample's first ``rows`` rows."""
    if sample is None:
        return []
    head = sample.head(rows)
    if head.height < SAMPLE_MIN_ROWS:
        return []
    distinct = head.select(pl.all().approx_n_unique()).row(0)
    # Hashing a column twice (unique, then is_in) beats parsing every row once
    # as soon as the sample repeats itself at all; a big file repeats more than its sample.
    return [name for name, count in zip(head.columns, distinct, strict=True) if count * 2 < head.height]


class LabelColumns:
    """One column per ``(column, keyword)`` label of a plan's checks.

    A label's column holds its check's booleans or, where several checks share
    the label (a hundred ``required`` entries), their count per row. Booleans
    are bits: most labels cost 1M rows / 8 bytes.
    """

    def __init__(self, checks: Sequence[Check]) -> None:
        grouped: dict[tuple[str | None, str | None], list[pl.Expr]] = {}
        for check in checks:
            grouped.setdefault((check.column, check.keyword), []).append(check.fails.fill_null(False))
        self.keys = list(grouped)
        self.columns = [
            (exprs[0] if len(exprs) == 1 else pl.sum_horizontal(exprs)).alias(f"__label{i}")
            for i, exprs in enumerate(grouped.values())
        ]
        # True where the label's check(s) fired, over the computed label columns.
        self.fired = [
            pl.col(f"__label{i}") if len(exprs) == 1 else pl.col(f"__label{i}") > 0
            for i, exprs in enumerate(grouped.values())
        ]

    def fired_columns(self, values: Sequence[Any]) -> set[str | None]:
        """The columns (None: the row) with a label that fired in one row's label values."""
        return {column for (column, _), hit in zip(self.keys, values, strict=True) if hit}
