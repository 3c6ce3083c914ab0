"""How a header row becomes column names: a blank cell is named by its column letter, a repeated name gets a suffix.

Both with a warning; ``strict`` refuses them instead. A repeated name is
suffixed as pandas suffixes it: the second ``x`` is ``x.1``, the third
``x.2`` (skipping any suffix another column already has).
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.workbooks import column_index

# The cells a warning lists before it counts the rest.
_LISTED = 5

__all__ = ["column_index", "column_letter", "name_columns"]


def column_letter(index: int) -> str:
    """0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``, as a spreadsheet names columns."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def name_columns(
    file: str, cells: Sequence[str | None], columns: Sequence[int], row: int, *, strict: bool = False,
) -> tuple[list[str], list[str]]:
    """The names of the header's columns, and the warnings saying which were named or renamed.

    ``cells`` are the header row's texts, ``columns`` their 0-based columns in
    the sheet (``A`` is 0), ``row`` the header's row number.
    """
    blank = [position for position, cell in enumerate(cells) if cell is None or cell.strip() == ""]
    if strict and blank:
        cell = f"{column_letter(columns[blank[0]])}{row}"
        raise ReadError(f"{file}: header cell {cell} is empty (the header is row {row}); every column needs a "
                        "name (without --strict-header it is named by its column letter)")
    base = [column_letter(columns[position]) if position in set(blank) else str(cells[position])
            for position in range(len(cells))]
    taken = set(base)
    first_at: dict[str, int] = {}
    names: list[str] = []
    repeated: list[str] = []
    for position, name in enumerate(base):
        if name not in first_at:
            first_at[name] = position
            names.append(name)
            continue
        if strict:
            raise ReadError(
                f"{file}: header names column {name!r} more than once (cells {column_letter(columns[first_at[name]])}"
                f"{row} and {column_letter(columns[position])}{row}; the header is row {row})")
        suffix = 1
        while f"{name}.{suffix}" in taken:
            suffix += 1
        renamed = f"{name}.{suffix}"
        taken.add(renamed)
        names.append(renamed)
        repeated.append(f"{column_letter(columns[position])}{row} repeats {name!r}, named {renamed!r}")
    warnings = []
    if blank:
        named = [f"{column_letter(columns[p])}{row} named {names[p]!r}" for p in blank]
        warnings.append(f"{len(blank)} empty header cell(s): {_listed(named)}")
    if repeated:
        warnings.append(f"{len(repeated)} repeated header name(s): {_listed(repeated)}")
    return names, warnings


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown if len(items) <= _LISTED else f"{shown} and {len(items) - _LISTED:,} more"
