"""Read spreadsheets as text: every cell a string, in batches of bounded size.

CSV goes through Polars' reader; XLSX and XLS through fastexcel, asking for
every column as text (fastexcel's own type inference turns text in a column
it takes for numeric into null, silently) and then writing each cell the way
the typing contract says a person sees it.

The pieces: :mod:`.sources` (where the bytes come from), :mod:`.encodings`
(how CSV bytes become UTF-8), :mod:`.table` (what a reader opens),
:mod:`.csv_records` and :mod:`.csv_reader` (CSV), :mod:`.excel` (workbooks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.filetypes import CSV_EXTENSIONS, EXCEL_EXTENSIONS, SPREADSHEET_EXTENSIONS
from airflow_provider_typecheck.validation.limits import WorkbookLimits
from airflow_provider_typecheck.validation.readers.csv_reader import CsvFile, open_csv
from airflow_provider_typecheck.validation.readers.csv_records import header_record, sniff_delimiter
from airflow_provider_typecheck.validation.readers.excel import open_excel
from airflow_provider_typecheck.validation.locations import local_path
from airflow_provider_typecheck.validation.readers.sources import check_regular_file
from airflow_provider_typecheck.validation.readers.header import column_letter
from airflow_provider_typecheck.validation.readers.selection import AUTO, CellRange, HeaderRow, TableSpec
from airflow_provider_typecheck.validation.readers.table import RaggedRow, Table, TableContent

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.parts import FilePart

__all__ = [
    "AUTO", "CSV_EXTENSIONS", "EXCEL_EXTENSIONS", "SPREADSHEET_EXTENSIONS", "CellRange", "CsvFile", "HeaderRow",
    "RaggedRow", "Table", "TableContent", "TableSpec", "column_letter", "header_record", "local_path", "open_table",
    "sniff_delimiter",
]


def open_table(
    source: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    delimiter: str | None = None,
    batch_rows: int | None = None,
    workbook_limits: WorkbookLimits = WorkbookLimits(),
    encoding: str | None = None,
    header_row: HeaderRow | str = None,
    cell_range: str | CellRange | None = None,
    columns: Sequence[str] | str | None = None,
    strict_header: bool = False,
    part: FilePart | None = None,
) -> Table:
    """Open a CSV, XLSX or XLS file from a path or any fsspec URI.

    ``batch_rows`` caps the rows of each batch; a streamed file holds no more
    than one batch at a time (default 200,000 rows streamed, 1,000,000 read whole).
    ``workbook_limits`` bounds what a workbook may inflate to (see :mod:`.limits`).
    A local file must be a regular file: a FIFO or a device would be read forever.
    ``encoding`` (a Python codec name) overrides the CSV encoding detection.
    ``header_row`` is the 1-based row (line of a CSV) holding the header, as a
    spreadsheet numbers rows; the rows above it (report titles) are skipped.
    By default the header is the first row that is not blank; ``"auto"`` also
    passes over title and comment lines (see :func:`.selection.find_header_row`).
    ``cell_range`` (``A3:F40``) checks one block of the sheet, its first row the
    header unless ``header_row`` says otherwise; ``columns`` (names, or one
    comma-separated text) keeps only those columns. Row numbers stay the
    sheet's own. A blank header cell is named by its column letter and a
    repeated name gets a suffix (see :mod:`.header`), with a warning;
    ``strict_header`` refuses both instead. ``part`` (see :mod:`..parts`) opens
    one byte range of a split CSV, its rows numbered as in the whole file.
    """
    if batch_rows is not None and batch_rows < 1:
        raise ValueError(f"batch_rows must be 1 or more, got {batch_rows}")
    spec = TableSpec.of(header_row, cell_range, columns, strict_header)
    name = str(source)
    local = local_path(name)
    if local is not None:
        check_regular_file(name, local)
    suffix = Path(name.split("?")[0]).suffix.lower()
    if suffix in EXCEL_EXTENSIONS:
        if part is not None:
            raise ReadError(f"{name}: a workbook is not split into byte ranges; validate it whole")
        return open_excel(name, sheet, workbook_limits, spec)
    if suffix in CSV_EXTENSIONS:
        if sheet is not None:
            raise ReadError(f"{name}: a CSV file has no sheets; a sheet ({sheet!r}) applies to XLSX/XLS files only")
        if delimiter in ('"', "\n", "\r"):
            raise ReadError(f"delimiter {delimiter!r} cannot separate fields: it quotes them or ends a row")
        return open_csv(name, delimiter, batch_rows, encoding, spec, part)
    raise ReadError(f"{name}: unknown file type {suffix or '(no extension)'!r}; expected .csv, .tsv, .xlsx or .xls")
