"""The runs: a frame, a table through the native pre-scan or batch by batch, a file."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.validation import prescan
from airflow_provider_typecheck.validation.engine.planning import (
    SAMPLE_MIN_ROWS,
    SAMPLE_ROWS,
    CompiledSchema,
    compile_schema,
    repetitive_columns,
)
from airflow_provider_typecheck.validation.engine.verdicts import (
    WIDE_SCHEMA_COLUMNS,
    Validation,
    ragged_message,
    row_by_row,
)
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.limits import WorkbookLimits
from airflow_provider_typecheck.validation.outputs import check_outputs
from airflow_provider_typecheck.validation.readers import Table, open_table
from airflow_provider_typecheck.validation.report import ValidationReport

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.parts import FilePart

ProgressCallback = Callable[[int, "int | None"], None]
# A wide schema's file of fewer lines (and bytes) has each column's distinct texts judged by the
# pre-scan, repetitive or not (repetitive_columns calls no column of fewer rows repetitive).
SMALL_FILE_ROWS = 1000
SMALL_FILE_BYTES = 16 * 1024 * 1024
# A narrow schema's file this small is counted in lines before its sample is read.
SHORT_SAMPLE_BYTES = 1024 * 1024


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
        report = validate_prescanned(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                                     progress=progress)
    if report is None:
        report = validate_batches(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                                  valid_out=valid_out, progress=progress)
    report.warnings = [*table.warnings, *report.warnings]
    report.elapsed_seconds = time.perf_counter() - started
    return report


def validate_prescanned(
    table: Table, compiled: CompiledSchema, *, max_errors: int, invalid_out: str | os.PathLike[str] | None,
    progress: ProgressCallback | None,
) -> ValidationReport | None:
    """Validate a CSV through the native pre-scan (see :mod:`.prescan`): only the
    rows it cannot clear are read as text and checked. None when the file or schema is beyond it."""
    source = table.csv
    repetitive: list[str] = []

    def internable() -> list[str]:
        # Only columns the scan cannot check natively need to know.
        with source.mapped() as data:
            if len(table.header) >= WIDE_SCHEMA_COLUMNS:
                head = data[:SMALL_FILE_BYTES + 1]
                if len(head) <= SMALL_FILE_BYTES and head.count(b"\n") - 1 < SMALL_FILE_ROWS:  # less the header's
                    # A wide schema's short file: judging each distinct text of a column once costs
                    # less than a plan (per column) or python-jsonschema on whole rows (per cell).
                    return table.header
            elif len(data) <= SHORT_SAMPLE_BYTES and data[:].count(b"\n") < SAMPLE_MIN_ROWS:
                # Fewer rows than lines (the last may lack its newline): too few for repetitive_columns
                # to call any column repetitive, so no sample is read (a Polars read).
                return repetitive
        # The sample costs a read.
        repetitive.extend(repetitive_columns(source.head(SAMPLE_ROWS)))
        return repetitive

    rules = prescan.column_rules(compiled.schema, compiled.validator, compiled.cells(table.header), internable)
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
                if not segment.suspects:
                    # Nothing to read back (and Polars, imported on first use, stays unimported).
                    validation.add_cleared(segment.rows)
                    done += segment.rows
                    if progress is not None:
                        progress(done, done if segment.last else None)
                    continue
                if segment.short:
                    validation.note_ragged({index + table.first_row: ragged_message(fields, len(table.header))
                                            for index, fields in segment.short.items()})
                numbers = [index + table.first_row for index in segment.suspects]
                rows = (source.scanned_rows(segment.records) if validation.takes_suspect_rows(len(numbers))
                        else None)
                if rows is not None and len(rows) == len(numbers):
                    validation.add_suspect_rows(rows, numbers, segment.flagged)
                else:
                    suspects = source.records(segment.records)
                    validation.add_suspects(suspects, numbers, segment.flagged)
                validation.add_cleared(segment.rows - len(numbers))
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
    if (not validation.planned and any(rule.mode == prescan.DICT for rule in rules)
            and not row_by_row(report.total_rows, len(cells))):
        # No segment needed the vectorised checks; the report still says which of the
        # interned columns' keywords they would have left to python-jsonschema, as the
        # ordinary path's plan would (a natively checked column has none; a file the
        # ordinary path checks row by row has no plan).
        report.fallback_keywords = sorted(compiled.plan(table.header, repetitive).fallback_keywords)
    return report


def validate_batches(
    table: Table, compiled: CompiledSchema, *, max_errors: int, invalid_out: str | os.PathLike[str] | None,
    valid_out: str | os.PathLike[str] | None, progress: ProgressCallback | None,
) -> ValidationReport:
    """Validate any table batch by batch, as its reader yields them."""
    batches = table.batches()
    first = next(batches, None)
    validation = Validation(compiled, table.header, repetitive=repetitive_columns(first), file=table.name,
                            max_errors=max_errors, invalid_out=invalid_out, valid_out=valid_out,
                            first_row=table.first_row)
    validation.note_ragged(
        {r.row: ragged_message(r.fields, r.expected) for r in table.ragged},
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
    header_row: int | str | None = None,
    cell_range: str | None = None,
    columns: Sequence[str] | str | None = None,
    strict_header: bool = False,
    part: FilePart | None = None,
) -> ValidationReport:
    """Validate a CSV/XLSX/XLS file (a path or any fsspec URI) against ``schema``.

    ``progress(rows_done, rows_total_or_None)`` is called after each batch;
    ``batch_rows`` caps a batch's rows, and so memory on files that stream;
    ``encoding`` names a CSV's codec instead of detecting it; ``header_row``
    is the header's 1-based row, above which title rows are skipped, or
    ``"auto"``; ``cell_range``, ``columns`` and ``strict_header`` say which
    table of the sheet is checked and how its header is named (see
    :func:`~airflow_provider_typecheck.validation.readers.open_table`);
    ``workbook_limits`` caps what a workbook may inflate to; ``part`` validates
    one range of a split CSV (see :mod:`..parts`): the report and the row
    outputs hold that range's rows, numbered as in the whole file. The row outputs are
    written whole or not at all, and never over the input.
    Raises :class:`SchemaError`, :class:`ReadError` or :class:`OutputError` for unusable input.
    """
    started = time.perf_counter()
    check_outputs(source, valid_out=valid_out, invalid_out=invalid_out)
    compiled = compile_schema(schema)
    table = open_table(source, sheet=sheet, delimiter=delimiter, batch_rows=batch_rows,
                       workbook_limits=workbook_limits, encoding=encoding, header_row=header_row,
                       cell_range=cell_range, columns=columns, strict_header=strict_header, part=part)
    report = validate_table(table, compiled, max_errors=max_errors, invalid_out=invalid_out,
                            valid_out=valid_out, progress=progress)
    if part is not None and report.total_rows != part.rows:
        raise ReadError(f"{table.name}: part {part.index + 1} of {part.count} holds {report.total_rows} row(s) "
                        f"where the split counted {part.rows}: the file changed after it was split")
    report.elapsed_seconds = time.perf_counter() - started
    return report
