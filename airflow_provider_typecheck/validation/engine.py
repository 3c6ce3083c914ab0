"""Run a compiled schema over a spreadsheet, batch by batch.

Data flows one way: reader -> plan -> checks -> report. Each batch is checked
by one Polars query; counts add up exactly across batches, the error list
stops at ``max_errors``, and invalid/valid rows stream to their files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cached_property, lru_cache
from typing import Any

import polars as pl
import referencing.exceptions
from jsonschema.exceptions import ValidationError

from airflow_provider_typecheck.validation import prescan
from airflow_provider_typecheck.validation.cells import ABSENT_VALUE, Cell, integers_of_any_size
from airflow_provider_typecheck.validation.compiler import Plan, build_plan, plan_cells
from airflow_provider_typecheck.validation.errors import OutputError, ReadError, SchemaError  # noqa: F401 - re-exported
from airflow_provider_typecheck.validation.limits import (
    DEFAULT_MAX_SCHEMA_BYTES,
    DEFAULT_MAX_SCHEMA_DEPTH,
    WorkbookLimits,
)
from airflow_provider_typecheck.validation.outputs import RowSink, check_outputs
from airflow_provider_typecheck.validation.readers import Table, open_table
from airflow_provider_typecheck.validation.references import new_validator
from airflow_provider_typecheck.validation.report import CellError, ValidationReport
from airflow_provider_typecheck.validation.schema import (
    bounded_validator_class,
    check_schema,
    json_pointer,
    validator_class,
)

ProgressCallback = Callable[[int, "int | None"], None]
# Rows read ahead to tell which columns repeat their values (the first batch, when reading whole).
SAMPLE_ROWS = 20_000
# Up to this many rows the pre-scan could not clear are checked row by row by
# python-jsonschema; building and running the vectorised plan costs more (a
# wide schema's plan costs 0.1 s, a suspect row about 20 microseconds).
PYTHON_SUSPECTS = 1_000
# A batch of a few rows is checked row by row by python-jsonschema: a Polars query costs
# 50-150 microseconds per expression whatever its rows (4 ms for 5 columns, seconds for
# 10,000), python-jsonschema about 10 per cell, so below some 8 rows the query costs
# more than the rows. That is the case of a wide schema's short file, and of every batch
# after the first when batches are that small (--batch-rows 1); a narrow file of a few
# rows, read in one batch, keeps the vectorised path (a few milliseconds).
PYTHON_BATCH_ROWS = 8
WIDE_SCHEMA_COLUMNS = 256
ROW_LEVEL = ""  # errors_by_column key for errors on the row itself
RAGGED_KEYWORD = "ragged"
UNEVALUABLE = "unevaluable"


class CompiledSchema:
    """A checked schema, its python-jsonschema validator, and its plans per header."""

    def __init__(
        self, schema: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
    ) -> None:
        self.draft = check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
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


# Root keywords that can yield errors on a property other than through ``properties``.
_PROPERTY_APPLICATORS = frozenset({
    "allOf", "anyOf", "oneOf", "not", "if", "$ref", "$dynamicRef", "$recursiveRef", "dependentSchemas",
    "dependencies", "patternProperties", "additionalProperties", "unevaluatedProperties", "propertyNames",
})


def _flat_properties(schema: Mapping[str, Any], cells: Mapping[str, Any]) -> dict[str, Any] | None:
    """The root's ``properties`` when only they can yield errors on a single property.

    ``additionalProperties: false`` is fine: its error is about the row.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    applicators = _PROPERTY_APPLICATORS & set(schema)
    if applicators - {"additionalProperties"} or schema.get("additionalProperties", False) not in (False, True):
        return None
    return {name: sub for name, sub in properties.items() if name in cells}


# Root keywords whose errors on a row (verdict and message) depend only on which
# properties it holds. (minProperties is not one: its message shows the row.)
_KEY_ONLY_KEYWORDS = frozenset({
    "type", "properties", "additionalProperties", "required", "dependentRequired",
    "$schema", "$id", "$comment", "$defs", "definitions", "$anchor", "$vocabulary",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
})


def _key_only_validator(validator: Any, schema: Mapping[str, Any], flat: Mapping[str, Any] | None) -> Any:
    """The root with every property subschema ``true``, when the rest only looks at which keys a
    row holds: its errors for a row are then those of any row with the same keys."""
    if flat is None or not set(schema) <= _KEY_ONLY_KEYWORDS or schema.get("type", "object") != "object":
        return None
    if any(sub is False for sub in schema["properties"].values()):
        return None  # a false subschema's error comes from within ``properties``, between cell errors
    return validator.evolve(schema={**schema, "properties": dict.fromkeys(schema["properties"], True)})


def repetitive_columns(sample: pl.DataFrame | None, rows: int = SAMPLE_ROWS) -> list[str]:
    """The columns whose values repeat a lot in the sample's first ``rows`` rows."""
    if sample is None:
        return []
    head = sample.head(rows)
    if head.height < 1000:
        return []
    distinct = head.select(pl.all().approx_n_unique()).row(0)
    # Hashing a column twice (unique, then is_in) beats parsing every row once
    # as soon as the sample repeats itself at all; a big file repeats more than its sample.
    return [name for name, count in zip(head.columns, distinct, strict=True) if count * 2 < head.height]


@lru_cache(maxsize=128)
def _compile_cached(digest: str, canonical: str, max_bytes: int, max_depth: int) -> CompiledSchema:
    return CompiledSchema(json.loads(canonical), max_bytes=max_bytes, max_depth=max_depth)


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
    check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
    # Key order is kept, not sorted: python-jsonschema applies keywords in the
    # schema's order, which decides the order of errors and where is_valid stops.
    canonical = json.dumps(schema, separators=(",", ":"))
    return _compile_cached(hashlib.sha256(canonical.encode()).hexdigest(), canonical, max_bytes, max_depth)


class Validation:
    """Accumulates the verdicts of one spreadsheet's batches into a report."""

    def __init__(
        self,
        compiled: CompiledSchema,
        header: Sequence[str],
        *,
        repetitive: Collection[str] = (),
        file: str | None = None,
        max_errors: int = 1000,
        invalid_out: str | os.PathLike[str] | None = None,
        valid_out: str | os.PathLike[str] | None = None,
        first_row: int = 2,
    ) -> None:
        self.compiled = compiled
        self.header = list(header)
        self._repetitive = repetitive
        self.cells = compiled.cells(self.header, repetitive)
        self.max_errors = max_errors
        self.report = ValidationReport(file=file, schema_draft=compiled.draft)
        self._counts: list[int] = []
        self._python_counts: dict[tuple[str | None, str | None], int] = {}
        self._validators: dict[frozenset[str | None], Any] = {}
        self._cell_errors: dict[tuple[str, str | None], list[Any]] = {}
        self._positions = {name: position for position, name in enumerate(self.header)}
        self._cells = {cell.name: cell for cell in self.cells}
        self._flat_properties = _flat_properties(compiled.schema, self._cells)
        self._key_validator = _key_only_validator(compiled.validator, compiled.schema, self._flat_properties)
        self._key_errors: dict[tuple[str, ...], tuple[list[Any], list[Any]]] = {}
        self._ragged: dict[int, str] = {}
        self._extra: dict[int, str] = {}  # a too-long row's fields beyond the header's, as a JSON list
        self._next_row = first_row
        self._invalid_sink = self._valid_sink = None
        self._invalid_sink = RowSink(invalid_out) if invalid_out else None
        try:
            self._valid_sink = RowSink(valid_out) if valid_out else None
        except BaseException:
            self.abandon()
            raise

    @property
    def planned(self) -> bool:
        """Whether a batch has needed the vectorised checks yet (see :attr:`plan`)."""
        return "plan" in self.__dict__

    @cached_property
    def plan(self) -> Plan:
        """The vectorised checks, built when a batch first needs them."""
        plan = self.compiled.plan(self.header, self._repetitive)
        self.report.fallback_keywords = list(plan.fallback_keywords)
        # One column per (column, keyword) label: the check's booleans, or, where
        # several checks share a label (a hundred ``required`` entries), their
        # count per row. Booleans are bits: most labels cost 1M rows / 8 bytes.
        grouped: dict[tuple[str | None, str | None], list[pl.Expr]] = {}
        for check in plan.checks:
            grouped.setdefault((check.column, check.keyword), []).append(check.fails.fill_null(False))
        self._labels = list(grouped)
        self._label_columns = [
            (exprs[0] if len(exprs) == 1 else pl.sum_horizontal(exprs))
            .alias(f"__label{i}")
            for i, exprs in enumerate(grouped.values())
        ]
        self._fired = [
            pl.col(f"__label{i}") if len(exprs) == 1 else pl.col(f"__label{i}") > 0
            for i, exprs in enumerate(grouped.values())
        ]
        self._counts = [0] * len(self._labels)
        return plan

    def note_ragged(self, rows: Mapping[int, str], extra: Mapping[int, Sequence[str]] | None = None) -> None:
        """Rows with the wrong number of fields (invalid whatever their cells), and the
        fields beyond the header's of those too long, which the invalid rows' output keeps
        in an ``_extra`` column. Called before the first batch."""
        self._ragged.update(rows)
        self._extra.update({row: json.dumps(list(fields), ensure_ascii=False) for row, fields in (extra or {}).items()
                            if fields})

    @property
    def _output_columns(self) -> list[str]:
        return ["_row", *self.header, *(["_extra"] if self._extra else []), "_errors"]

    def _with_extra(self, rows: pl.DataFrame) -> pl.DataFrame:
        if not self._extra:
            return rows
        return rows.with_columns(pl.col("_row").replace_strict(self._extra, default=None, return_dtype=pl.String)
                                 .alias("_extra"))

    def add(self, batch: pl.DataFrame, row_numbers: Sequence[int] | None = None) -> None:
        """Check a batch of rows: the next rows of the file, or the rows ``row_numbers`` names."""
        if row_numbers is None:
            numbers = pl.int_range(self._next_row, self._next_row + batch.height, dtype=pl.Int64, eager=True)
            self._next_row += batch.height
        else:
            numbers = pl.Series(row_numbers, dtype=pl.Int64)
        self.report.total_rows += batch.height
        if batch.height == 0:
            return
        first_batch = self.report.total_rows == batch.height
        if batch.height <= PYTHON_BATCH_ROWS and (len(self.cells) >= WIDE_SCHEMA_COLUMNS or not first_batch):
            self._add_row_by_row(batch, numbers)
            return
        plan = self.plan
        # The row index makes constant checks (a required column missing from the
        # header) broadcast to the batch's height instead of collapsing to one row.
        verdicts = (
            batch.lazy()
            .with_columns(plan.prelude())
            .select(
                pl.int_range(pl.len()).alias("__index"),
                plan.python_rows.fill_null(False).alias("__python"),
                *self._label_columns,
            )
            .with_columns(pl.any_horizontal(self._fired or [pl.lit(False)]).alias("__invalid"))
            .collect()
        )
        in_python = verdicts.get_column("__python")
        invalid = verdicts.get_column("__invalid")
        verdicts = verdicts.select(pl.selectors.starts_with("__label"))
        python_at = in_python.arg_true().to_list()
        if python_at:
            # Those rows' verdicts are python-jsonschema's, added below.
            keep = ~in_python
            verdicts = verdicts.select(
                pl.col(name) & keep if dtype == pl.Boolean else pl.col(name) * keep.cast(pl.UInt32)
                for name, dtype in verdicts.schema.items()
            )
            invalid = invalid & keep
        if self._labels:
            sums = verdicts.sum().row(0)
            self._counts = [c + (s or 0) for c, s in zip(self._counts, sums, strict=True)]
        python_labels = {index: self._validate_in_python(batch, index) for index in python_at}
        python_invalid = [index for index, labels in python_labels.items() if labels]
        if python_invalid:
            invalid = invalid.scatter(python_invalid, True)
        if self._ragged:
            ragged_here = numbers.is_in(list(self._ragged))
            if ragged_here.any():
                invalid = invalid | ragged_here
        invalid_at = invalid.arg_true().to_list()
        self.report.invalid_rows += len(invalid_at)
        self._collect_errors(batch, verdicts, invalid_at, set(python_invalid), numbers)
        if self._invalid_sink or self._valid_sink:
            self._write_rows(batch, verdicts, invalid, numbers, python_labels)

    def _add_row_by_row(self, batch: pl.DataFrame, numbers: pl.Series) -> None:
        """Check a few rows with python-jsonschema alone (see PYTHON_BATCH_ROWS)."""
        invalid: list[int] = []
        labels: list[str] = []
        for index, texts in enumerate(batch.rows()):
            row_number = numbers[index]
            ragged = self._ragged.get(row_number)
            errors = self._iter_errors(self.compiled.validator, self._row_from(texts))
            if not errors and ragged is None:
                continue
            invalid.append(index)
            keys = [(str(error.path[0]) if error.path else None, error.validator) for error in errors]
            for key in keys:
                self._python_counts[key] = self._python_counts.get(key, 0) + 1
            row_labels = [f"{column or ''}:{keyword}" for column, keyword in keys]
            if ragged is not None:
                row_labels.insert(0, f":{RAGGED_KEYWORD}")
                if len(self.report.errors) < self.max_errors:
                    self.report.errors.append(CellError(row_number, None, "", RAGGED_KEYWORD, None, ragged))
            labels.append("; ".join(dict.fromkeys(row_labels)))
            self._list_errors(row_number, texts, errors)
        self.report.invalid_rows += len(invalid)
        if self._valid_sink:
            self._valid_sink.write(batch.filter(~pl.int_range(batch.height, eager=True).is_in(invalid)))
        if self._invalid_sink:
            rows = batch[invalid].with_columns(
                pl.Series("_row", [numbers[i] for i in invalid], dtype=pl.Int64),
                pl.Series("_errors", labels, dtype=pl.String),
            )
            self._invalid_sink.write(self._with_extra(rows).select(self._output_columns))

    def add_suspects(self, batch: pl.DataFrame, row_numbers: Sequence[int], flagged: Sequence[Sequence[int]]) -> None:
        """Check the rows the native pre-scan could not clear; ``flagged`` lists each one's doubtful cells.

        Many rows go through the vectorised checks. A few are cheaper row by
        row: the other cells were cleared, so python-jsonschema descends into
        the flagged ones only, and the errors on the row come from which cells
        are filled in (exact for the flat schemas the pre-scan takes).
        """
        if batch.height > PYTHON_SUSPECTS or self.planned:
            self.add(batch, row_numbers)
            return
        self.report.total_rows += batch.height
        invalid: list[int] = []
        labels: list[str] = []
        for index, (texts, columns) in enumerate(zip(batch.rows(), flagged, strict=True)):
            # An absent cell (empty, null not allowed) has no errors of its own: its ``required``
            # error is the row's, and comes from which cells are filled in.
            present = {self.header[c] for c in columns if texts[c] or self.cells[c].nullable}
            errors = self._errors_for(texts, present | {None})
            if not errors:
                continue
            invalid.append(index)
            keys = [(str(error.path[0]) if error.path else None, error.validator) for error in errors]
            for key in keys:
                self._python_counts[key] = self._python_counts.get(key, 0) + 1
            labels.append("; ".join(dict.fromkeys(f"{column or ''}:{keyword}" for column, keyword in keys)))
            self._list_errors(row_numbers[index], texts, errors)
        self.report.invalid_rows += len(invalid)
        if self._invalid_sink and invalid:
            rows = batch[invalid].with_columns(
                pl.Series("_row", [row_numbers[i] for i in invalid], dtype=pl.Int64),
                pl.Series("_errors", labels, dtype=pl.String),
            )
            self._invalid_sink.write(self._with_extra(rows).select(self._output_columns))

    def add_cleared(self, rows: int) -> None:
        """Count rows found valid without being checked here (the native pre-scan cleared them)."""
        self.report.total_rows += rows

    def _validate_in_python(self, batch: pl.DataFrame, index: int) -> str:
        """Validate one row with python-jsonschema and count its errors.

        Returns the row's error labels (``column:keyword; ...``), empty when valid.
        """
        row = self._row_from(batch.row(index))
        keys = [(str(e.path[0]) if e.path else None, e.validator) for e in self._iter_errors(self.compiled.validator, row)]
        for key in keys:
            self._python_counts[key] = self._python_counts.get(key, 0) + 1
        return "; ".join(dict.fromkeys(f"{column or ''}:{keyword}" for column, keyword in keys))

    @staticmethod
    def _iter_errors(validator: Any, row: dict[str, Any]) -> list[Any]:
        """python-jsonschema's errors; a value it cannot evaluate (``1e400`` against a
        fractional ``multipleOf`` overflows in python-jsonschema itself) is an error too."""
        try:
            with integers_of_any_size():
                return list(validator.iter_errors(row))
        except referencing.exceptions.Unresolvable as err:
            # check_schema resolves every reference first; this is the registry's last word.
            raise SchemaError(f"$ref cannot be resolved within this schema: {err}") from None
        except (ArithmeticError, ValueError) as err:
            return [ValidationError(f"python-jsonschema cannot evaluate this row: {err}", validator=UNEVALUABLE)]

    def _collect_errors(
        self, batch: pl.DataFrame, verdicts: pl.DataFrame, invalid_at: list[int], python_rows: set[int],
        row_numbers: pl.Series,
    ) -> None:
        # Every invalid row yields at least one error: no more rows than free slots are needed.
        wanted = invalid_at[: max(self.max_errors - len(self.report.errors), 0)]
        if not wanted:
            return
        rows = batch[wanted].rows()
        fired_rows = verdicts[wanted].rows() if verdicts.width else [()] * len(wanted)
        for index, texts, fired in zip(wanted, rows, fired_rows, strict=True):
            if len(self.report.errors) >= self.max_errors:
                return
            row_number = row_numbers[index]
            if row_number in self._ragged:
                self.report.errors.append(
                    CellError(row_number, None, "", RAGGED_KEYWORD, None, self._ragged[row_number])
                )
            if index in python_rows or row_number in self._ragged:
                errors = self._iter_errors(self.compiled.validator, self._row_from(texts))
            else:
                columns = {column for (column, _), hit in zip(self._labels, fired, strict=True) if hit}
                errors = self._errors_for(texts, columns)
            self._list_errors(row_number, texts, errors)

    def _list_errors(self, row_number: int, texts: Sequence[str | None], errors: list[Any]) -> None:
        """Add a row's errors to the report's list, as far as ``max_errors`` allows."""
        for error in errors[: max(self.max_errors - len(self.report.errors), 0)]:
            column = str(error.path[0]) if error.path else None
            self.report.errors.append(
                CellError(
                    row=row_number,
                    column=column,
                    path=json_pointer(error.path),
                    keyword=error.validator,
                    value=texts[self._positions[column]] if column in self._positions else None,
                    message=error.message,
                )
            )

    def _row_from(self, texts: Sequence[str | None]) -> dict[str, Any]:
        row = {}
        for cell, text in zip(self.cells, texts, strict=True):
            value = cell.coerce(text)
            if value is not ABSENT_VALUE:
                row[cell.name] = value
        return row

    def _errors_for(self, texts: Sequence[str | None], columns: set[str | None]) -> list[Any]:
        """python-jsonschema's errors for a row the checks found invalid in ``columns``.

        The checks already say which properties fail, so only those are run.
        When the root names its properties with no applicator around them and
        only properties fail, each failing cell is descended into exactly as
        python-jsonschema's ``properties`` keyword does. Otherwise the root
        runs with the passing properties' subschemas replaced by ``true``
        (a ``false`` property subschema reports on the row: those stay).
        """
        validator = self.compiled.validator
        properties = self.compiled.schema.get("properties")
        if not isinstance(properties, Mapping):
            return self._iter_errors(validator, self._row_from(texts))
        if self._flat_properties is not None and (None not in columns or self._key_validator is not None):
            errors = self._property_errors(texts, columns)
            if errors is None:
                return self._iter_errors(validator, self._row_from(texts))
            if None not in columns:
                return errors
            # Errors on the row (required, additionalProperties...) depend only on which cells
            # are filled in; python-jsonschema yields them in the root's keyword order, the
            # properties' errors where ``properties`` stands.
            present = tuple(cell.name for cell, text in zip(self.cells, texts, strict=True)
                            if text or cell.nullable)
            if present not in self._key_errors:
                order = list(self.compiled.schema)
                before, after = [], []
                for error in self._iter_errors(self._key_validator, dict.fromkeys(present)):
                    (before if order.index(error.validator) < order.index("properties") else after).append(error)
                self._key_errors[present] = (before, after)
            before, after = self._key_errors[present]
            return [*before, *errors, *after]
        key = frozenset(columns)
        if key not in self._validators:
            kept = {name for name, sub in properties.items() if name in key or sub is False}
            reduced = dict(self.compiled.schema)
            reduced["properties"] = {name: sub if name in kept else True for name, sub in properties.items()}
            self._validators[key] = validator.evolve(schema=reduced)
        return self._iter_errors(self._validators[key], self._row_from(texts))

    def _property_errors(self, texts: Sequence[str | None], columns: set[str | None]) -> list[Any] | None:
        """The failing cells' errors, each descended into as python-jsonschema's ``properties``
        does; None when python-jsonschema itself cannot evaluate a value."""
        errors = []
        for name, subschema in self._flat_properties.items():
            if name in columns:
                cell = self._cells[name]
                text = texts[cell.index]
                # A cell's errors depend on its text alone: bad values repeat, so remember them.
                cached = self._cell_errors.get((name, text))
                if cached is None:
                    try:
                        with integers_of_any_size():
                            cached = list(self.compiled.validator.descend(cell.coerce(text), subschema, path=name,
                                                                          schema_path=name))
                    except (ArithmeticError, ValueError):
                        return None
                    if len(self._cell_errors) < 100_000:
                        self._cell_errors[(name, text)] = cached
                errors += cached
        return errors

    def _write_rows(
        self, batch: pl.DataFrame, verdicts: pl.DataFrame, invalid: pl.Series, row_numbers: pl.Series,
        python_labels: dict[int, str],
    ) -> None:
        numbered = batch.with_columns(row_numbers.alias("_row"))
        if self._valid_sink:
            self._valid_sink.write(batch.filter(~invalid))
        if self._invalid_sink:
            labels = [
                pl.when(fired).then(pl.lit(f"{column or ''}:{keyword}"))
                for fired, (column, keyword) in zip(self._fired, self._labels, strict=True)
            ]
            described = verdicts.select(
                pl.concat_str(labels, separator="; ", ignore_nulls=True).alias("_errors")
            ) if labels else pl.DataFrame({"_errors": [None] * batch.height}, schema={"_errors": pl.String})
            if python_labels:
                labels_of_rows = pl.Series([python_labels.get(i) for i in range(batch.height)], dtype=pl.String)
                described = described.with_columns(
                    pl.when(pl.int_range(pl.len()).is_in(list(python_labels)))
                    .then(pl.lit(labels_of_rows))
                    .otherwise(pl.col("_errors"))
                    .alias("_errors")
                )
            out = pl.concat([numbered, described], how="horizontal").filter(invalid)
            if self._ragged:
                out = out.with_columns(
                    pl.when(pl.col("_row").is_in(list(self._ragged)))
                    .then(pl.concat_str([pl.lit(f":{RAGGED_KEYWORD}"),
                                         pl.when(pl.col("_errors") != "").then(pl.col("_errors"))],
                                        separator="; ", ignore_nulls=True))
                    .otherwise(pl.col("_errors")).alias("_errors")
                )
            self._invalid_sink.write(self._with_extra(out).select(self._output_columns))

    def abandon(self) -> None:
        """Drop what the row files hold so far: the rows are about to be checked again, or
        the run failed (then no output is left)."""
        for sink in (self._invalid_sink, self._valid_sink):
            if sink is not None:
                sink.discard()

    def finish(self) -> ValidationReport:
        counts: dict[str, dict[str, int]] = {}
        labels = self._labels if self.planned else []
        for (column, keyword), count in [*zip(labels, self._counts, strict=True),
                                         *self._python_counts.items()]:
            if not count:
                continue
            by_keyword = counts.setdefault(column if column is not None else ROW_LEVEL, {})
            by_keyword[keyword] = by_keyword.get(keyword, 0) + count
        if self._ragged:
            counts.setdefault(ROW_LEVEL, {})[RAGGED_KEYWORD] = len(self._ragged)
        self.report.errors_by_column = counts
        self.report.errors_truncated = self.report.error_count > len(self.report.errors)
        try:
            if self._valid_sink:
                self._valid_sink.close(pl.DataFrame(schema={c: pl.String for c in self.header}))
            if self._invalid_sink:
                self._invalid_sink.close(
                    pl.DataFrame(schema={column: pl.Int64 if column == "_row" else pl.String
                                         for column in self._output_columns})
                )
        except BaseException:
            self.abandon()
            raise
        return self.report


def validate_frame(
    frame: pl.DataFrame,
    schema: Mapping[str, Any] | CompiledSchema,
    *,
    max_errors: int = 1000,
    invalid_out: str | os.PathLike[str] | None = None,
    valid_out: str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Validate a frame of text columns (null or ``""`` is an empty cell).

    Row numbers follow the spreadsheet: frame row 0 is row 2.
    """
    started = time.perf_counter()
    compiled = compile_schema(schema)
    frame = frame.with_columns(pl.all().cast(pl.String)) if any(d != pl.String for d in frame.dtypes) else frame
    check_outputs(None, valid_out=valid_out, invalid_out=invalid_out)
    validation = Validation(compiled, frame.columns, repetitive=repetitive_columns(frame), max_errors=max_errors,
                            invalid_out=invalid_out, valid_out=valid_out)
    try:
        validation.add(frame)
    except BaseException:
        validation.abandon()
        raise
    report = validation.finish()
    report.elapsed_seconds = time.perf_counter() - started
    return report


def validate_table(
    table: Table,
    schema: Mapping[str, Any] | CompiledSchema,
    *,
    max_errors: int = 1000,
    invalid_out: str | os.PathLike[str] | None = None,
    valid_out: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
) -> ValidationReport:
    started = time.perf_counter()
    check_outputs(table.name, valid_out=valid_out, invalid_out=invalid_out)
    compiled = compile_schema(schema)
    report = None
    if table.csv is not None and valid_out is None and prescan.available():
        report = _validate_prescanned(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                                      progress=progress)
    if report is None:
        report = _validate_batches(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                                   valid_out=valid_out, progress=progress)
    report.warnings = [*table.warnings, *report.warnings]
    report.elapsed_seconds = time.perf_counter() - started
    return report


def _validate_prescanned(
    table: Table, compiled: CompiledSchema, *, max_errors: int, invalid_out: str | os.PathLike[str] | None,
    progress: ProgressCallback | None,
) -> ValidationReport | None:
    """Validate a CSV through the native pre-scan (see :mod:`.prescan`): only the
    rows it cannot clear are read as text and checked. None when the file or schema is beyond it."""
    source = table.csv
    repetitive: list[str] = []

    def sample_repetitive() -> list[str]:
        # Only columns the scan cannot check natively need to know; the sample costs a read.
        repetitive.extend(repetitive_columns(source.head(SAMPLE_ROWS)))
        return repetitive

    rules = prescan.column_rules(compiled.schema, compiled.validator, compiled.cells(table.header),
                                 sample_repetitive)
    if rules is None:
        return None
    validation = Validation(compiled, table.header, repetitive=repetitive, file=table.name,
                            max_errors=max_errors, invalid_out=invalid_out, first_row=table.first_row)
    cells = validation.cells
    done = 0
    try:
        with source.mapped() as data:
            for segment in prescan.scan(data, source.delimiter, rules, compiled.schema, compiled.validator,
                                        cells, batch_rows=source.batch_rows):
                suspects = source.records(segment.records)
                validation.add_suspects(suspects, [index + table.first_row for index in segment.suspects], segment.flagged)
                validation.add_cleared(segment.rows - suspects.height)
                done += segment.rows
                if progress is not None:
                    progress(done, done if segment.last else None)
    except prescan.NotScannable:
        # Found at any point of the file: start again the ordinary way, from the first row.
        validation.abandon()
        return None
    except prescan.FileChanged:
        validation.abandon()
        raise ReadError(f"{table.name}: the file changed while it was read (it was cut short)") from None
    except BaseException:
        validation.abandon()
        raise
    report = validation.finish()
    if not validation.planned and any(rule.mode == prescan.DICT for rule in rules):
        # No segment needed the vectorised checks; the report still says which of the
        # interned columns' keywords they would have left to python-jsonschema (a
        # natively checked column has none).
        report.fallback_keywords = list(compiled.plan(table.header, repetitive).fallback_keywords)
    return report


def _validate_batches(
    table: Table, compiled: CompiledSchema, *, max_errors: int, invalid_out: str | os.PathLike[str] | None,
    valid_out: str | os.PathLike[str] | None, progress: ProgressCallback | None,
) -> ValidationReport:
    batches = table.batches()
    first = next(batches, None)
    validation = Validation(compiled, table.header, repetitive=repetitive_columns(first), file=table.name,
                            max_errors=max_errors, invalid_out=invalid_out, valid_out=valid_out,
                            first_row=table.first_row)
    validation.note_ragged(
        {r.row: f"row has {r.fields} field(s) but the header has {r.expected}" for r in table.ragged},
        {r.row: r.extra for r in table.ragged},
    )
    done = 0
    try:
        for batch in itertools.chain([first] if first is not None else [], batches):
            validation.add(batch)
            done += batch.height
            if progress is not None:
                progress(done, table.total_rows)
    except BaseException:
        validation.abandon()
        raise
    return validation.finish()


def validate_file(
    source: str | os.PathLike[str],
    schema: Mapping[str, Any] | CompiledSchema,
    *,
    sheet: str | int | None = None,
    delimiter: str | None = None,
    max_errors: int = 1000,
    invalid_out: str | os.PathLike[str] | None = None,
    valid_out: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int | None = None,
    workbook_limits: WorkbookLimits = WorkbookLimits(),
    encoding: str | None = None,
    header_row: int | None = None,
) -> ValidationReport:
    """Validate a CSV/XLSX/XLS file (a path or any fsspec URI) against ``schema``.

    ``progress(rows_done, rows_total_or_None)`` is called after each batch;
    ``batch_rows`` caps a batch's rows, and so memory on files that stream;
    ``encoding`` names a CSV's codec instead of detecting it; ``header_row``
    is the header's 1-based row, above which title rows are skipped (see
    :func:`~airflow_provider_typecheck.validation.readers.open_table`);
    ``workbook_limits`` caps what a workbook may inflate to. The row outputs are
    written whole or not at all, and never over the input.
    Raises :class:`SchemaError`, :class:`ReadError` or :class:`OutputError` for unusable input.
    """
    started = time.perf_counter()
    check_outputs(source, valid_out=valid_out, invalid_out=invalid_out)
    compiled = compile_schema(schema)
    table = open_table(source, sheet=sheet, delimiter=delimiter, batch_rows=batch_rows,
                       workbook_limits=workbook_limits, encoding=encoding, header_row=header_row)
    report = validate_table(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                            valid_out=valid_out, progress=progress)
    report.elapsed_seconds = time.perf_counter() - started
    return report


__all__ = [
    "CompiledSchema", "OutputError", "ReadError", "check_outputs", "compile_schema", "validate_file", "validate_frame",
    "validate_table",
]
