"""The Table a reader opens: its header, its batches of text read on first use, and what was noticed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_typecheck.validation.lazy_polars import polars as pl

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

    @property
    def header_row(self) -> int:
        """The row number, in the file, of the header."""
        return self.first_row - 1

    def batches(self) -> Iterator[pl.DataFrame]:
        yield from self._content.batches()

    def restricted(self, columns: list[str], last_row: int | None, fields_needed: int | None) -> Table:
        """This table cut to ``columns`` and to the rows up to ``last_row``, for a range or chosen columns.

        ``fields_needed``: a CSV row is ragged when it has fewer fields than
        this (a range ending at a column), not when it has more (those fields
        are outside the range); None keeps the whole header's rule. The native
        pre-scan reads whole records, so a restricted table has none.
        """
        limit = None if last_row is None else max(last_row - self.first_row + 1, 0)

        def read() -> TableContent:
            content = self._content

            def batches() -> Iterator[pl.DataFrame]:
                taken = 0
                for batch in content.batches():
                    if limit is not None:
                        if taken >= limit:
                            return
                        batch = batch.head(limit - taken)
                    taken += batch.height
                    yield batch.select(columns)

            total = content.total_rows
            if total is not None and limit is not None:
                total = min(total, limit)
            ragged = [row for row in content.ragged if last_row is None or row.row <= last_row]
            if fields_needed is not None:
                ragged = [RaggedRow(row.row, row.fields, fields_needed) for row in ragged if row.fields < fields_needed]
            return TableContent(batches, total, ragged)

        return Table(self.name, columns, self.warnings, read, first_row=self.first_row)
