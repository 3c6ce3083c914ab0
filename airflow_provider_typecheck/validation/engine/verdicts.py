"""Check one spreadsheet's rows batch by batch (vectorised, row by row, or the pre-scan's suspects) into a report."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_typecheck.validation.compiler import Plan
from airflow_provider_typecheck.validation.engine.errorlist import ErrorList
from airflow_provider_typecheck.validation.engine.explain import Explainer
from airflow_provider_typecheck.validation.engine.planning import CompiledSchema, LabelColumns
from airflow_provider_typecheck.validation.engine.sinks import RowOutputs
from airflow_provider_typecheck.validation.engine.tally import Tally
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.report import ValidationReport

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


def row_by_row(rows: int, columns: int, *, first_batch: bool = True) -> bool:
    """Whether a batch is checked row by row by python-jsonschema rather than by a plan."""
    return rows <= PYTHON_BATCH_ROWS and (columns >= WIDE_SCHEMA_COLUMNS or not first_batch)


def ragged_message(fields: int, expected: int) -> str:
    """The error of a row with the wrong number of fields."""
    return f"row has {fields} field(s) but the header has {expected}"


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
        self.report = ValidationReport(file=file, schema_draft=compiled.draft, header_row=first_row - 1)
        self.tally = Tally()
        self.errors = ErrorList(self.report, max_errors, self.header)
        self.explainer = Explainer(compiled, self.cells)
        self._ragged: dict[int, str] = {}
        self._next_row = first_row
        self.outputs = RowOutputs(self.header, invalid_out, valid_out)

    @property
    def planned(self) -> bool:
        """Whether a batch has needed the vectorised checks yet (see :attr:`plan`)."""
        return "plan" in self.__dict__

    @cached_property
    def plan(self) -> Plan:
        """The vectorised checks, built when a batch first needs them."""
        plan = self.compiled.plan(self.header, self._repetitive)
        self.report.fallback_keywords = sorted(plan.fallback_keywords)
        self.labels = LabelColumns(plan.checks)
        self.tally.use_labels(self.labels.keys)
        return plan

    def note_ragged(self, rows: Mapping[int, str], extra: Mapping[int, Sequence[str]] | None = None) -> None:
        """Rows with the wrong number of fields (invalid whatever their cells), and the
        fields beyond the header's of those too long, which the invalid rows' output keeps
        in an ``_extra`` column. Called before the batch holding them (before the first,
        when some have ``extra`` fields: the output's columns are fixed by then)."""
        self._ragged.update(rows)
        self.outputs.note_extra(extra or {})

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
        if row_by_row(batch.height, len(self.cells), first_batch=first_batch):
            self._add_row_by_row(batch, numbers)
            return
        plan = self.plan
        labels = self.labels
        # The row index makes constant checks (a required column missing from the
        # header) broadcast to the batch's height instead of collapsing to one row.
        verdicts = (
            batch.lazy()
            .with_columns(plan.prelude())
            .select(
                pl.int_range(pl.len()).alias("__index"),
                plan.python_rows.fill_null(False).alias("__python"),
                *labels.columns,
            )
            .with_columns(pl.any_horizontal(labels.fired or [pl.lit(False)]).alias("__invalid"))
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
        if labels.keys:
            self.tally.add_label_sums(verdicts.sum().row(0))
        python_labels = {index: self.tally.count_row(self.explainer.row_errors(batch.row(index)))
                         for index in python_at}
        python_invalid = [index for index, row_labels in python_labels.items() if row_labels]
        if python_invalid:
            invalid = invalid.scatter(python_invalid, True)
        if self._ragged:
            ragged_here = numbers.is_in(list(self._ragged))
            if ragged_here.any():
                invalid = invalid | ragged_here
        invalid_at = invalid.arg_true().to_list()
        self.report.invalid_rows += len(invalid_at)
        self._list_errors(batch, verdicts, invalid_at, set(python_invalid), numbers)
        if self.outputs.active:
            self.outputs.write_checked(batch, verdicts, invalid, numbers, labels, python_labels, self._ragged)

    def _add_row_by_row(self, batch: pl.DataFrame, numbers: pl.Series) -> None:
        """Check a few rows with python-jsonschema alone (see PYTHON_BATCH_ROWS)."""
        self._judge_rows(batch.rows(), numbers.to_list(), lambda index, texts: self.explainer.row_errors(texts),
                         batch)

    def _judge_rows(
        self, rows: Sequence[tuple[str | None, ...]], numbers: Sequence[int],
        errors_of: Callable[[int, tuple[str | None, ...]], list[Any]], batch: pl.DataFrame | None,
    ) -> None:
        """Check rows one by one: ``errors_of(index, texts)`` gives a row's python-jsonschema errors
        (a ragged row's come from the whole row). ``batch``, the rows' frame, is for the row outputs."""
        invalid: list[int] = []
        labels: list[str] = []
        for index, texts in enumerate(rows):
            row_number = numbers[index]
            ragged = self._ragged.get(row_number)
            errors = errors_of(index, texts) if ragged is None else self.explainer.row_errors(texts)
            if not errors and ragged is None:
                continue
            invalid.append(index)
            labels.append(self.tally.count_row(errors, ragged=ragged is not None))
            if ragged is not None:
                self.errors.add_ragged(row_number, ragged)
            self.errors.add(row_number, texts, errors)
        self.report.invalid_rows += len(invalid)
        if batch is not None:
            self.outputs.write_listed(batch, invalid, numbers, labels)
        elif self.outputs.active:
            raise AssertionError("rows without their frame while row outputs are written")

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
        self.add_suspect_rows(batch.rows(), row_numbers, flagged, batch)

    def takes_suspect_rows(self, count: int) -> bool:
        """Whether ``count`` suspects may come as texts alone (:meth:`add_suspect_rows`), without a frame:
        they are checked row by row, and no row output needs their frame."""
        return count <= PYTHON_SUSPECTS and not self.planned and not self.outputs.active

    def add_suspect_rows(
        self, rows: Sequence[tuple[str | None, ...]], row_numbers: Sequence[int], flagged: Sequence[Sequence[int]],
        batch: pl.DataFrame | None = None,
    ) -> None:
        """:meth:`add_suspects` for rows checked row by row; ``batch``, their frame, is needed when
        rows are written out (see :meth:`takes_suspect_rows`)."""
        self.report.total_rows += len(rows)

        def errors_of(index: int, texts: tuple[str | None, ...]) -> list[Any]:
            # An absent cell (empty, null not allowed) has no errors of its own: its ``required``
            # error is the row's, and comes from which cells are filled in.
            present = {self.header[c] for c in flagged[index] if texts[c] or self.cells[c].nullable}
            return self.explainer.errors_for(texts, present | {None})

        self._judge_rows(rows, row_numbers, errors_of, batch)

    def add_cleared(self, rows: int) -> None:
        """Count rows found valid without being checked here (the native pre-scan cleared them)."""
        self.report.total_rows += rows

    def _list_errors(
        self, batch: pl.DataFrame, verdicts: pl.DataFrame, invalid_at: list[int], python_rows: set[int],
        row_numbers: pl.Series,
    ) -> None:
        # Every invalid row yields at least one error: no more rows than free slots are needed.
        wanted = invalid_at[: self.errors.room]
        if not wanted:
            return
        rows = batch[wanted].rows()
        fired_rows = verdicts[wanted].rows() if verdicts.width else [()] * len(wanted)
        for index, texts, fired in zip(wanted, rows, fired_rows, strict=True):
            if not self.errors.room:
                return
            row_number = row_numbers[index]
            if row_number in self._ragged:
                self.errors.add_ragged(row_number, self._ragged[row_number])
            if index in python_rows or row_number in self._ragged:
                errors = self.explainer.row_errors(texts)
            else:
                errors = self.explainer.errors_for(texts, self.labels.fired_columns(fired))
            self.errors.add(row_number, texts, errors)

    def abandon(self) -> None:
        """Drop what the row files hold so far: the rows are about to be checked again, or
        the run failed (then no output is left)."""
        self.outputs.abandon()

    def finish(self) -> ValidationReport:
        self.report.errors_by_column = self.tally.by_column(len(self._ragged))
        self.report.errors_truncated = self.report.error_count > len(self.report.errors)
        self.outputs.close()
        return self.report
