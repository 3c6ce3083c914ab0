"""The Table a reader opens: its header, its batches of text read on first use, and what was noticed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import polars as pl

from airflow_provider_typecheck.validation.errors import ReadError

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.readers.csv_reader import CsvFile


@dataclass(frozen=True)
class RaggedRow:
    row: int  # spreadsheet row number (header = 1)
    fields: int
    expected: int
    extra: tuple[str, ...] = ()  # the fields beyond the header's, which the row's cells leave out


@dataclass
class TableContent:
    """What reading a table gives: its batches, and what was noticed on the way."""

    batches: Callable[[], Iterator[pl.DataFrame]]
    total_rows: int | None = None
    ragged: list[RaggedRow] = field(default_factory=list)


class Table:
    """A spreadsheet opened for validation: header, batches of text, and what was noticed.

    Opening reads the header only; the rows are read on first use of
    :meth:`batches`, :attr:`total_rows` or :attr:`ragged`, and ``warnings``
    grows then (a file that is not UTF-8 after its head). ``csv`` is set for
    CSV files, which the native pre-scan may validate without reading them as
    text at all. Row numbers are the file's own: the header is at row
    ``first_row - 1``, after any title or blank rows.
    """

    def __init__(
        self, name: str, header: list[str], warnings: list[str], read: Callable[[], TableContent],
        csv: CsvFile | None = None, first_row: int = 2,
    ) -> None:
        self.name = name
        self.header = header
        self.warnings = warnings
        self.csv = csv
        self.first_row = first_row  # the row number, in the file, of the first data row
        self._read = read

    @cached_property
    def _content(self) -> TableContent:
        return self._read()

    @property
    def total_rows(self) -> int | None:
        return self._content.total_rows

    @property
    def ragged(self) -> list[RaggedRow]:
        return self._content.ragged

    def batches(self) -> Iterator[pl.DataFrame]:
        yield from self._content.batches()


def check_header(name: str, header: list[str]) -> None:
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if column.strip() == "":
            raise ReadError(f"{name}: header column {position} is empty; every column needs a name")
        if column in seen:
            raise ReadError(f"{name}: header names column {column!r} more than once")
        seen.add(column)
