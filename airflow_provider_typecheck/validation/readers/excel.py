"""Open a workbook (XLSX, XLSM, XLSB, XLS, ODS) as a Table, each cell written as a person sees it."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from airflow_provider_typecheck.validation import workbooks
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.limits import WorkbookLimits, check_workbook
from airflow_provider_typecheck.validation.readers.sources import read_bytes
from airflow_provider_typecheck.validation.readers.table import Table, TableContent, check_header

_EXCEL_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
_NUMERAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def open_excel(name: str, sheet: str | int | None, header_row: int | None, limits: WorkbookLimits) -> Table:
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
        frame = _as_seen(reader, selected, frame, found.result(), first_column)
    filled = frame.select(pl.any_horizontal(pl.all().is_not_null() & (pl.all() != ""))).to_series()
    if header_row is None:
        first = filled.arg_true()
        if first.len() == 0:
            raise ReadError(f"{name}: sheet {selected!r} is empty; expected a header row")
        header_at = int(first[0])
    else:
        header_at = header_row - 1
        if header_at >= frame.height or not filled[header_at]:
            raise ReadError(f"{name}: sheet {selected!r} has no header at row {header_row} (that row is empty)")
    header = [value if value is not None else "" for value in frame.row(header_at)]
    check_header(name, header)
    frame = frame.slice(header_at + 1).rename(dict(zip(frame.columns, header, strict=True)))
    content = TableContent(lambda: iter([frame]), frame.height)
    return Table(name, header, [], lambda: content, first_row=header_at + 2)


def _as_seen(
    reader: Any, sheet: str | int, frame: pl.DataFrame, found: workbooks.SheetCells, first_column: int,
) -> pl.DataFrame:
    """Rewrite fastexcel's text for numbers, dates and error cells as the typing contract spells them.

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
    dates = []
    for column in frame.columns:
        text = pl.col(column)
        if frame.get_column(column).str.contains(_EXCEL_DATETIME).any():
            dates.append(
                pl.when(text.str.contains(_EXCEL_DATETIME))
                .then(
                    pl.when(text.str.slice(11, 8) == "00:00:00")
                    .then(text.str.slice(0, 10))
                    .otherwise(text.str.slice(0, 10) + "T" + text.str.slice(11, 8))
                )
                .otherwise(text)
                .alias(column)
            )
    if dates:
        frame = frame.with_columns(dates)
    return _with_cells(frame, found.errors, first_column) if found.errors else frame


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
