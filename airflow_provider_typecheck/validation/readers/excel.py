"""Open a workbook (XLSX, XLSM, XLSB, XLS, ODS) as a Table, each cell written as a person sees it."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from airflow_provider_typecheck.validation import timetext, workbooks
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.limits import WorkbookLimits, check_workbook
from airflow_provider_typecheck.validation.readers.sources import read_bytes
from airflow_provider_typecheck.validation.readers.header import name_columns
from airflow_provider_typecheck.validation.readers.selection import (
    AUTO,
    LOOKAHEAD_ROWS,
    TableSpec,
    choose_columns,
    filled_count,
    find_header_row,
)
from airflow_provider_typecheck.validation.readers.table import Table, TableContent

# The header is looked for in the first rows first.
_HEAD_ROWS = 1000
_NUMERAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def open_excel(name: str, sheet: str | int | None, limits: WorkbookLimits, spec: TableSpec = TableSpec()) -> Table:
    import fastexcel

    data = read_bytes(name)
    check_workbook(name, data, limits)
    try:
        reader = fastexcel.read_excel(data)
    except Exception:  # noqa: BLE001 - fastexcel raises its own and calamine errors
        suffix = Path(name.split("?")[0]).suffix.lower()
        raise ReadError(f"{name}: {workbooks.unreadable_reason(data, suffix)}") from None
    selected: str | int = 0 if sheet is None else sheet
    if isinstance(selected, str) and selected.isdigit() and selected not in reader.sheet_names:
        selected = int(selected)
    if isinstance(selected, int) and not 0 <= selected < len(reader.sheet_names):
        raise ReadError(f"{name}: no sheet {selected}; the workbook has {len(reader.sheet_names)} sheet(s)")
    if isinstance(selected, str) and selected not in reader.sheet_names:
        raise ReadError(f"{name}: no sheet named {selected!r}; sheets are {reader.sheet_names}")
    index = selected if isinstance(selected, int) else reader.sheet_names.index(selected)
    # Error cells are looked for while fastexcel parses the sheet (both release the GIL).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="typecheck-errors") as pool:
        found = pool.submit(workbooks.sheet_cells, data, index)
        try:
            # skip_rows=0 keeps leading blank rows, so frame row i is the sheet's row i + 1.
            loaded = reader.load_sheet(selected, dtypes="string", header_row=None, skip_rows=0)
            frame = loaded.to_polars()
        except Exception as err:  # noqa: BLE001
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ReadError(f"{name}: cannot read sheet {selected!r}: {message}") from None
        # Leading blank columns are not in the frame: its column 0 is the sheet's first used one.
        first_column = loaded.available_columns()[0].absolute_index if frame.width else 0
        frame = _as_seen(reader, selected, frame, found.result(), first_column, data, index)
    return _table(name, reader.sheet_names[index], frame, first_column, spec)


def _table(name: str, sheet: str, frame: pl.DataFrame, first_column: int, spec: TableSpec) -> Table:
    """The table of ``spec`` in a sheet read whole (frame row i is the sheet's row i + 1)."""
    cell_range = spec.cell_range
    positions = list(range(frame.width))
    if cell_range is not None:
        positions = [p for p in positions if p + first_column in cell_range.columns(first_column + frame.width)]
        if not positions:
            raise ReadError(f"{name}: sheet {sheet!r} holds nothing in the range {cell_range}")
        frame = frame.select([frame.columns[p] for p in positions])
    bottom = frame.height if spec.last_row is None else min(spec.last_row, frame.height)
    notes: list[str] = []
    if isinstance(spec.header_row, int):
        header_at = spec.header_row - 1
        if header_at >= bottom or not filled_count(frame.row(header_at)):
            raise ReadError(f"{name}: sheet {sheet!r} has no header at row {spec.header_row} (that row is empty)")
    else:
        top = spec.first_row - 1
        first = _filled_rows(frame.slice(top, min(max(bottom - top, 0), _HEAD_ROWS)))
        if first.len() == 0 and bottom - top > _HEAD_ROWS:  # a table far below blank rows
            first = _filled_rows(frame.slice(top, bottom - top))
        if first.len() == 0:
            where = "is empty" if cell_range is None else f"is empty in the range {cell_range}"
            raise ReadError(f"{name}: sheet {sheet!r} {where}; expected a header row")
        start = top + int(first[0])
        window = frame.slice(start, min(bottom - start, LOOKAHEAD_ROWS * 4))
        row, notes = find_header_row(list(enumerate(window.iter_rows(), start=start + 1)), auto=spec.header_row == AUTO)
        header_at = (row or start + 1) - 1
    names, named = name_columns(name, frame.row(header_at), [first_column + p for p in positions], header_at + 1,
                                strict=spec.strict_header)
    chosen = choose_columns(name, names, spec.columns, header_at + 1)
    frame = (frame.slice(header_at + 1, max(bottom - header_at - 1, 0))
             .rename(dict(zip(frame.columns, names, strict=True))).select(chosen))
    content = TableContent(lambda: iter([frame]), frame.height)
    return Table(name, chosen, [*notes, *named], lambda: content, first_row=header_at + 2)


def _filled_rows(frame: pl.DataFrame) -> pl.Series:
    """The positions of the rows holding a cell that is not blank."""
    return frame.select(pl.any_horizontal(pl.all().str.strip_chars().str.len_bytes() > 0)).to_series().arg_true()


def _as_seen(
    reader: Any, sheet: str | int, frame: pl.DataFrame, found: workbooks.SheetCells, first_column: int,
    data: bytes, sheet_index: int,
) -> pl.DataFrame:
    """Rewrite fastexcel's text for numbers, dates, times, durations and error cells as the typing
    contract spells them (dates, times and durations: see :mod:`..timetext`).

    fastexcel writes a date as ``YYYY-MM-DD HH:MM:SS``, an error cell as an
    empty one, and rounds a float to 9 decimals (68.66499999999999 comes back
    as ``68.665``, 3.0000000001 as ``3``). Where a numeric cell's text does not
    parse back to the double the file stores, the double's shortest round-trip
    form replaces it: an XLSX's XML gives those doubles; other workbooks have
    every column holding a numeral read once more as floats (a second parse of
    those columns). Text cells such as ``0.30`` parse back to the same float
    and stay as typed, and so do dates.
    """
    rewritten = []
    if found.numbers_known:
        frame = _with_cells(frame, {cell: value for cell, value in found.numbers.items()}, first_column, exact=True)
    numeric_columns = [] if found.numbers_known else [
        column for column in frame.columns if frame.get_column(column).str.contains(_NUMERAL).any()
    ]
    if numeric_columns:
        numbers = reader.load_sheet(sheet, dtypes="float", header_row=None, skip_rows=0,
                                    use_columns=numeric_columns).to_polars()
        for column, exact in zip(numeric_columns, numbers.iter_columns(), strict=True):
            parsed = frame.get_column(column).cast(pl.Float64, strict=False)
            lost = (parsed.is_not_null() & exact.is_not_null() & (parsed != exact)).fill_null(False)
            if lost.any():
                shortest = pl.Series([_shortest(v) if hit else None for v, hit in zip(exact, lost, strict=True)],
                                     dtype=pl.String)
                rewritten.append(pl.coalesce(pl.lit(shortest), pl.col(column)).alias(column))
    if rewritten:
        frame = frame.with_columns(rewritten)
    dated = [column for column in frame.columns if frame.get_column(column).str.contains(timetext.DATETIME_TEXT).any()]
    zero_date = found.zero_date
    if not dated or zero_date is None:  # no date-time, or an ODS (its dates and times: found.time_texts)
        return _with_cells(frame, {**found.time_texts, **found.errors}, first_column)
    if data[:8] == workbooks.OLE_MAGIC:  # an XLS: its date system and elapsed-time cells, from xlrd
        if any(frame.get_column(column).str.starts_with(timetext.ZERO_DATE_1904).any() for column in dated):
            zero_date = timetext.ZERO_DATE_1904 if workbooks.xls_date_1904(data) else zero_date
        found.time_texts.update(workbooks.xls_durations(data, sheet_index))
    frame = frame.with_columns(timetext.datetime_texts(column, zero_date) for column in dated)
    return _with_cells(frame, {**found.time_texts, **found.errors}, first_column)


def _with_cells(
    frame: pl.DataFrame, cells: dict[tuple[int, int], Any], first_column: int, exact: bool = False
) -> pl.DataFrame:
    """The frame with these sheet cells' texts; ``exact``: cells are stored doubles, which replace
    a numeral's text only when it does not parse back to them."""
    by_column: dict[int, dict[int, Any]] = {}
    for (row, column), value in cells.items():
        position = column - first_column
        if 0 <= position < frame.width and row < frame.height:
            by_column.setdefault(position, {})[row] = value
    replaced = []
    for position, values_at in by_column.items():
        column = frame.columns[position]
        values = frame.get_column(column).to_list()
        for row, value in values_at.items():
            if not exact:
                values[row] = value
            elif values[row] is not None and re.fullmatch(_NUMERAL, values[row]) and float(values[row]) != value:
                values[row] = _shortest(value)
        replaced.append(pl.Series(column, values, dtype=pl.String))
    return frame.with_columns(replaced) if replaced else frame


def _shortest(value: float) -> str:
    if value.is_integer() and abs(value) < 1e300:
        return str(int(value))
    return repr(value)
