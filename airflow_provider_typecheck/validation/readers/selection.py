"""Which table of a sheet is checked: its range, its header row (given, the first not blank, or found), its columns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.readers.header import column_index, column_letter

AUTO: Literal["auto"] = "auto"
# How far below a candidate header ``auto`` looks for a wider row.
LOOKAHEAD_ROWS = 50
_RANGE = re.compile(r"([A-Za-z]{1,3})?([1-9][0-9]*)?:([A-Za-z]{1,3})?([1-9][0-9]*)?")
# A comment line: ``#`` then a space, punctuation or nothing (``#id`` is a column name, not a comment).
_COMMENT = re.compile(r"#(?![0-9A-Za-z_])")

HeaderRow = int | Literal["auto"] | None


@dataclass(frozen=True)
class CellRange:
    """A block of a sheet, as ``A3:F40`` names it: rows count from 1, columns from 0 (``A``); None is open."""

    first_row: int | None = None
    last_row: int | None = None
    first_column: int | None = None
    last_column: int | None = None

    @classmethod
    def parse(cls, text: str) -> CellRange:
        """``A3:F40``, ``B:D`` (whole columns), ``3:40`` (whole rows) or ``A3:F`` (from A3 down, to column F)."""
        found = _RANGE.fullmatch(text.strip())
        if found is None or not any(found.groups()):
            raise ReadError(f"range {text!r} is not a cell range such as A3:F40, B:D or 3:40")
        first_letters, first_row, last_letters, last_row = found.groups()
        cell_range = cls(
            first_row=int(first_row) if first_row else None,
            last_row=int(last_row) if last_row else None,
            first_column=column_index(first_letters.upper()) if first_letters else None,
            last_column=column_index(last_letters.upper()) if last_letters else None,
        )
        if cell_range.first_row and cell_range.last_row and cell_range.last_row < cell_range.first_row:
            raise ReadError(f"range {text!r} ends above the row it starts on")
        if (cell_range.first_column is not None and cell_range.last_column is not None
                and cell_range.last_column < cell_range.first_column):
            raise ReadError(f"range {text!r} ends left of the column it starts on")
        return cell_range

    def columns(self, width: int) -> range:
        """The 0-based column positions of the range among ``width`` columns."""
        last = width - 1 if self.last_column is None else min(self.last_column, width - 1)
        return range(self.first_column or 0, last + 1)

    def __str__(self) -> str:
        first = f"{column_letter(self.first_column) if self.first_column is not None else ''}{self.first_row or ''}"
        last = f"{column_letter(self.last_column) if self.last_column is not None else ''}{self.last_row or ''}"
        return f"{first}:{last}"


@dataclass(frozen=True)
class TableSpec:
    """Which table of a sheet to check.

    ``header_row``: the header's row number (rows count from 1, as a spreadsheet
    shows them); None, the first row that is not blank; ``"auto"``, the first
    row that is not a title or comment line (see :func:`find_header_row`).
    ``cell_range`` limits the table to a block of the sheet: its header is the
    block's first row unless ``header_row`` says otherwise. ``columns`` keeps
    only the columns of these names. ``strict_header`` refuses blank and
    repeated header names instead of naming them.
    """

    header_row: HeaderRow = None
    cell_range: CellRange | None = None
    columns: tuple[str, ...] | None = None
    strict_header: bool = False

    @classmethod
    def of(
        cls, header_row: HeaderRow | str = None, cell_range: str | CellRange | None = None,
        columns: Sequence[str] | str | None = None, strict_header: bool = False,
    ) -> TableSpec:
        """The spec from options as users give them: ``"auto"`` or a number, ``"A3:F40"``, ``"id,name"``."""
        if isinstance(header_row, str) and header_row != AUTO:
            if not header_row.strip().isdigit():
                raise ReadError(f"the header row must be a row number or 'auto', got {header_row!r}")
            header_row = int(header_row)
        if isinstance(header_row, int) and (isinstance(header_row, bool) or header_row < 1):
            raise ReadError(f"the header row must be 1 or more (rows count from 1), got {header_row}")
        if isinstance(cell_range, str):
            cell_range = CellRange.parse(cell_range)
        if isinstance(columns, str):
            columns = [name for name in columns.split(",") if name != ""]
        if columns is not None and not columns:
            raise ReadError("no columns named: give one name or more (--columns id,name)")
        spec = cls(header_row, cell_range, tuple(columns) if columns is not None else None, strict_header)
        if isinstance(header_row, int) and cell_range is not None:
            if (cell_range.first_row and header_row < cell_range.first_row) or (
                    cell_range.last_row and header_row > cell_range.last_row):
                raise ReadError(f"the header row {header_row} is outside the range {cell_range}")
        return spec

    def as_options(self) -> dict[str, object]:
        """The options that are set, as ``open_table`` and ``validate_file`` take them (and a job carries them)."""
        options = {"header_row": self.header_row, "cell_range": str(self.cell_range) if self.cell_range else None,
                   "columns": self.columns, "strict_header": self.strict_header}
        return {name: value for name, value in options.items() if value is not None and value is not False}

    @property
    def first_row(self) -> int:
        """The first row of the sheet the table may use."""
        return self.cell_range.first_row or 1 if self.cell_range is not None else 1

    @property
    def last_row(self) -> int | None:
        return self.cell_range.last_row if self.cell_range is not None else None

    @property
    def selects(self) -> bool:
        """Whether the table is less than the whole sheet below its header (a bounded range or chosen columns)."""
        bounded = self.cell_range is not None and (
            self.cell_range.first_column is not None or self.cell_range.last_column is not None
            or self.cell_range.last_row is not None)
        return bounded or self.columns is not None


def filled_count(cells: Sequence[str | None]) -> int:
    return sum(1 for cell in cells if cell is not None and cell.strip() != "")


def _is_comment(cells: Sequence[str | None]) -> bool:
    first = next((cell for cell in cells if cell is not None and cell.strip() != ""), None)
    return first is not None and _COMMENT.match(first.lstrip()) is not None


def find_header_row(rows: Sequence[tuple[int, Sequence[str | None]]], auto: bool) -> tuple[int | None, list[str]]:
    """The row number of the header among ``rows`` (row number, cells), top first, and warnings.

    Without ``auto``: the first row holding a cell that is not blank. With it,
    leading rows that are not a header are passed over: a comment line (its
    first cell starts with ``#`` and a space or nothing else), and a title (a
    row of one non-empty cell) when a row below, within ``LOOKAHEAD_ROWS``,
    holds two or more. None when every row is blank.
    """
    filled = [(number, cells, filled_count(cells)) for number, cells in rows]
    filled = [entry for entry in filled if entry[2] > 0]
    if not filled:
        return None, []
    for position, (number, cells, count) in enumerate(filled):
        below = filled[position + 1:position + 1 + LOOKAHEAD_ROWS]
        wider_below = any(other >= 2 for _, _, other in below)
        if not auto:
            if count == 1 and wider_below:
                shown = next(cell for cell in cells if cell is not None and cell.strip() != "")
                return number, [
                    f"the header row {number} holds one cell ({shown[:40]!r}) and rows below hold more: if it is "
                    "a title or a comment, give the header's row (--header-row N), or --header-row auto"
                ]
            return number, []
        title = count == 1 and wider_below
        comment = _is_comment(cells) and bool(below) and not all(_is_comment(other) for _, other, _ in below)
        if not (title or comment):
            notes = [f"took row {number} as the header, passing over {position} title or comment row(s) above it "
                     f"(the first: row {filled[0][0]})"] if position else []
            return number, notes
    return filled[0][0], []


def choose_columns(file: str, names: list[str], chosen: Sequence[str] | None, row: int) -> list[str]:
    """The header's names that ``chosen`` keeps, in the header's order (all when None)."""
    if chosen is None:
        return names
    unknown = [name for name in chosen if name not in names]
    if unknown:
        listed = ", ".join(repr(name) for name in names[:20]) + (" ..." if len(names) > 20 else "")
        raise ReadError(f"{file}: no column {unknown[0]!r} in the header (row {row}); its columns are {listed}")
    wanted = set(chosen)
    return [name for name in names if name in wanted]
