"""Open a CSV as a Table: sniffing, titles above the header, and Polars' reading checked against the csv module's."""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.locations import local_path
from airflow_provider_typecheck.validation.readers import csv_records, sources
from airflow_provider_typecheck.validation.readers.encodings import as_utf8, decode_head
from airflow_provider_typecheck.validation.readers.header import name_columns
from airflow_provider_typecheck.validation.readers.selection import AUTO, TableSpec, choose_columns, find_header_row
from airflow_provider_typecheck.validation.readers.table import RaggedRow, Table, TableContent

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.parts import FilePart

# Files up to this size are read in one piece (fastest) and checked in batches of
# WHOLE_FILE_BATCH_ROWS; larger ones stream in batches of STREAM_BATCH_ROWS rows
# unless told otherwise, which bounds memory (about 0.8 GB peak with ten text
# columns, whatever the file's size).
WHOLE_FILE_BYTES = 256 * 1024 * 1024
WHOLE_FILE_BATCH_ROWS = 1_000_000
STREAM_BATCH_ROWS = 200_000
# The lines of the head looked at for a header row.
_HEADER_SEARCH_LINES = 200


@dataclass(frozen=True)
class CsvFile:
    """A CSV as Polars reads it: what the native pre-scan needs to read it the same way.

    ``source`` is a local path to a UTF-8 file, or the file's bytes (fetched from
    a remote URI, or recoded to UTF-8) when they are held in memory anyway.
    """

    name: str
    source: str | bytes
    delimiter: str
    options: dict[str, Any]
    batch_rows: int | None = None
    # The offset in the file of the first byte below the header record, where the file is
    # UTF-8 and the head holds the title lines (None otherwise): where a split's parts begin.
    data_start: int | None = None

    def head(self, rows: int) -> pl.DataFrame:
        """The first ``rows`` data rows, as text."""
        source = io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
        try:
            return pl.read_csv(source, **_polars(self.options), n_rows=rows)
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            # A ragged or unusual head: no sample, and the scan will decline the file anyway.
            return pl.DataFrame(schema=_polars(self.options)["schema"])

    def records(self, data: bytes) -> pl.DataFrame:
        """A header record and some of the file's records, read exactly as the whole file would be."""
        return _read_csv(self.name, data, self.options)

    def scanned_rows(self, data: bytes) -> list[tuple[str | None, ...]] | None:
        """:meth:`records`' rows as tuples of texts, without Polars, for a few records the
        native pre-scan passed; None when Polars must read them (see :func:`csv_records.scanned_rows`)."""
        return csv_records.scanned_rows(data, self.delimiter, len(self.options["schema"]))

    @contextmanager
    def mapped(self) -> Iterator[bytes | mmap.mmap]:
        with sources.mapped(self.source) as data:
            yield data


@dataclass(frozen=True)
class CsvLayout:
    """Where a CSV's table lies, as its head tells: what opening it (or splitting it) starts from."""

    encoding: str  # the codec its bytes are read with ("utf8" for UTF-8)
    skipped: int  # title lines above the header
    delimiter: str
    header: list[str]  # every field's name; a field outside a range under a name no header can hold
    header_record: bytes  # the header record's bytes, as UTF-8
    positions: list[int]  # the fields in the range (all without one)
    chosen: list[str]  # the columns checked
    warnings: list[str]
    # The offset in the file of the first byte below the header record: known for a UTF-8
    # file whose title lines are all in its head, else None.
    data_start: int | None

    @property
    def first_row(self) -> int:
        """The row number, in the file, of the first data row."""
        return self.skipped + 2


def csv_layout(name: str, delimiter: str | None, given_encoding: str | None = None,
               spec: TableSpec = TableSpec()) -> CsvLayout:
    """Read a CSV's head for its encoding, title lines, delimiter and header (ReadError when unusable)."""
    head = sources.read_head(name, csv_records.SNIFF_BYTES)
    if not head.strip():
        raise ReadError(f"{name}: the file is empty; expected a header row")
    if delimiter is not None and len(delimiter.encode("utf-8")) != 1:
        # Polars (and the native pre-scan) split fields on one byte.
        raise ReadError(f"delimiter must be one single-byte (ASCII) character, got {delimiter!r}")
    text, encoding = decode_head(name, head, given_encoding)
    warnings: list[str] = []
    skipped = _lines_above_header(name, text, spec, delimiter, warnings)
    if skipped:
        text = text.split("\n", skipped)[skipped]
    if delimiter is None:
        delimiter = csv_records.sniff_delimiter(text)

    def header_bytes(size: int) -> tuple[bytes, bool]:
        """The file's first ``size`` bytes as UTF-8 from the header on, and whether that is all of it."""
        raw = head if size <= len(head) else sources.read_head(name, size)
        below_titles = text if raw is head else decode_head(name, raw, encoding)[0].split("\n", skipped)[-1]
        return below_titles.encode("utf-8"), len(raw) < size

    cells, header_record = csv_records.read_header(name, delimiter, header_bytes)
    positions = list(spec.cell_range.columns(len(cells)) if spec.cell_range is not None else range(len(cells)))
    if not positions:
        raise ReadError(f"{name}: the range {spec.cell_range} holds none of the {len(cells)} field(s) of the "
                        f"header row {skipped + 1}")
    names, notes = name_columns(name, [cells[p] for p in positions], positions, skipped + 1,
                                strict=spec.strict_header)
    warnings.extend(notes)
    # Fields outside the range are read under names no header can hold, then left out.
    header = [f"\x00{position}" for position in range(len(cells))]
    for position, column in zip(positions, names, strict=True):
        header[position] = column
    chosen = choose_columns(name, names, spec.columns, skipped + 1)
    data_start = _data_start(head, skipped, header_record) if encoding == "utf8" else None
    return CsvLayout(encoding, skipped, delimiter, header, header_record, positions, chosen, warnings, data_start)


def open_csv(
    name: str, delimiter: str | None, batch_rows: int | None, given_encoding: str | None = None,
    spec: TableSpec = TableSpec(), part: FilePart | None = None,
) -> Table:
    layout = csv_layout(name, delimiter, given_encoding, spec)
    if part is not None:
        table = _open_part(name, part, layout, batch_rows)
    else:
        table = _open_records(name, encoding=layout.encoding, given_encoding=given_encoding,
                              skipped=layout.skipped, delimiter=layout.delimiter, header=layout.header,
                              header_record=layout.header_record, warnings=layout.warnings,
                              batch_rows=batch_rows, data_start=layout.data_start)
    if not spec.selects:
        return table
    bounded = spec.cell_range is not None and spec.cell_range.last_column is not None
    return table.restricted(layout.chosen, spec.last_row, layout.positions[-1] + 1 if bounded else None)


def _open_records(
    name: str, *, encoding: str, given_encoding: str | None, skipped: int, delimiter: str, header: list[str],
    header_record: bytes, warnings: list[str], batch_rows: int | None, data_start: int | None = None,
) -> Table:
    """The table of the records below the header, every field named by ``header``."""
    local = local_path(name)
    source: bytes | str
    if encoding == "utf8" and local is not None and not skipped:
        source = local
    else:
        source = as_utf8(name, sources.read_bytes(name), encoding, warnings, guessed=given_encoding is None)
        if skipped:
            source = source.split(b"\n", skipped)[skipped]
    return _records_table(name, source, skipped=skipped, delimiter=delimiter, header=header,
                          header_record=header_record, warnings=warnings, batch_rows=batch_rows,
                          reread=lambda: _recoded(name, encoding, given_encoding, skipped, warnings),
                          data_start=data_start)


def _recoded(name: str, encoding: str, given_encoding: str | None, skipped: int, warnings: list[str]) -> bytes:
    """The whole file as UTF-8 once bytes past its head turned out not to be: cp1252 unless told."""
    source = as_utf8(name, sources.read_bytes(name), "cp1252" if given_encoding is None else encoding,
                     warnings, guessed=given_encoding is None)
    return source.split(b"\n", skipped)[skipped] if skipped else source


def _data_start(head: bytes, skipped: int, header_record: bytes) -> int | None:
    """Where the records below the header begin in a UTF-8 file: past its byte order
    mark, its ``skipped`` title lines and the header record; None beyond the head."""
    position = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    for _ in range(skipped):
        position = head.find(b"\n", position) + 1
        if not position:
            return None
    return position + len(header_record)


def _open_part(name: str, part: FilePart, layout: CsvLayout, batch_rows: int | None) -> Table:
    """The table of one part of a split file: its header record and its range's bytes, read by offset."""
    if layout.data_start is None or part.start < layout.data_start:
        raise ReadError(f"{name}: part {part.index + 1} of {part.count} starts at byte {part.start}, above the "
                        "records of a UTF-8 file: the file changed after it was split")
    source = layout.header_record + sources.read_range(name, part.start, part.end)
    if len(source) - len(layout.header_record) != part.end - part.start:
        raise ReadError(f"{name}: part {part.index + 1} of {part.count} ends at byte {part.end}, past the end of "
                        "the file: the file changed after it was split")

    def changed() -> bytes:
        raise ReadError(f"{name}: part {part.index + 1} of {part.count} holds bytes that are not UTF-8: "
                        "the file changed after it was split")

    return _records_table(name, source, skipped=part.first_row - 2, delimiter=layout.delimiter,
                          header=layout.header, header_record=layout.header_record, warnings=layout.warnings,
                          batch_rows=batch_rows, reread=changed)


def _records_table(
    name: str, source: bytes | str, *, skipped: int, delimiter: str, header: list[str], header_record: bytes,
    warnings: list[str], batch_rows: int | None, reread: Callable[[], bytes], data_start: int | None = None,
) -> Table:
    """The table of ``source``: the header record and the records below it, UTF-8; the data rows
    begin at row ``skipped + 2`` of the file (below ``skipped`` title rows, or earlier parts)."""
    streamed = isinstance(source, str) and os.path.getsize(source) > WHOLE_FILE_BYTES
    if header_record.endswith(b"\r") and not streamed:  # a bare CR ends the header: Polars must see an LF
        source = csv_records.lf_for_bare_crs(sources.as_bytes(source), delimiter) or source
    # Polars skips the header record's lines unparsed: its own parse of a header holding a
    # quote inside a name (item,len",id) ran on into the next rows.
    options: dict[str, Any] = dict(
        separator=delimiter, has_header=False, skip_lines=csv_records.line_count(header_record),
        schema=header, missing_columns="insert",  # every column as text: see _polars
        raise_if_empty=False, quote_char='"',
    )
    if streamed:
        return _streamed_csv(name, source, delimiter, header, options, warnings, batch_rows, data_start)

    def read(text_source: bytes | str) -> tuple[pl.DataFrame, bool]:
        """The frame, and whether some row had too many fields (then truncated)."""
        if csv_records.quote_after_space(text_source, delimiter):
            return _read_with_csv_module(text_source, delimiter, header)
        try:
            return _read_csv(name, text_source, options), False
        except _TooManyFields:
            return _read_csv(name, text_source, options | _TRUNCATED), True

    def read_whole() -> TableContent:
        text_source = source
        try:
            frame, too_long = read(text_source)
        except _NotUtf8:  # bad bytes after the sniffed head
            text_source = reread()
            frame, too_long = read(text_source)
        except ReadError:  # a bare CR after a closing quote is text after it, to Polars: malformed
            normalised = csv_records.lf_for_bare_crs(sources.as_bytes(text_source), delimiter)
            if normalised is None:
                raise
            text_source = normalised
            frame, too_long = read(text_source)
        # Polars takes a bare CR for text: it hides in a cell, or was cut off with a too-long row's extras.
        if csv_records.may_hold_bare_cr(text_source):
            normalised = csv_records.lf_for_bare_crs(sources.as_bytes(text_source), delimiter)
            if normalised is not None:
                text_source = normalised
                frame, too_long = read(text_source)
        # Polars drops the empty field after a delimiter that ends the file: that row may be too long.
        too_long = too_long or sources.last_byte(text_source) == delimiter.encode()
        ragged: list[RaggedRow] = []
        if too_long:
            ragged = csv_records.ragged_rows(text_source, delimiter, len(header))
        else:
            last = frame.get_column(header[-1]) if frame.width else None
            # Polars pads a short row with nulls, and reads a quoted empty field ("") as an
            # empty string: only rows whose last cell is null can be short.
            suspects = last.is_null().arg_true() if last is not None else None
            if suspects is not None and suspects.len() and not csv_records.bytes_add_up(text_source, delimiter, frame):
                ragged = [r for r in csv_records.ragged_rows(text_source, delimiter, len(header), suspects)
                          if r.fields < r.expected]
        if skipped:
            ragged = [RaggedRow(r.row + skipped, r.fields, r.expected, r.extra) for r in ragged]

        def batches() -> Iterator[pl.DataFrame]:
            step = batch_rows or WHOLE_FILE_BATCH_ROWS
            for offset in range(0, max(frame.height, 1), step):
                yield frame.slice(offset, step)

        return TableContent(batches, frame.height, ragged)

    return Table(name, header, warnings, read_whole,
                 CsvFile(name, source, delimiter, options, batch_rows, data_start), first_row=skipped + 2)


def _lines_above_header(
    name: str, text: str, spec: TableSpec, delimiter: str | None, warnings: list[str],
) -> int:
    """How many lines come before the header: ``header_row - 1``, else those above the
    row :func:`~.selection.find_header_row` takes, from the range's first row on."""
    lines = text.split("\n")
    if isinstance(spec.header_row, int):
        if spec.header_row > len(lines) or not lines[spec.header_row - 1].strip("\r\ufeff"):
            raise ReadError(f"{name}: no header at row {spec.header_row}: that row is blank or past the end")
        return spec.header_row - 1
    start = spec.first_row - 1
    # Whole lines only: the head may end inside the last one.
    candidates = lines[start:-1] if len(lines) > start + 1 else lines[start:]
    candidates = candidates[:_HEADER_SEARCH_LINES]
    if delimiter is None:
        # Titles and comments hold no delimiter, or not the same count: sniff below them.
        body = [line for line in candidates if not line.lstrip().startswith("#")
                and any(d in line for d in csv_records.DELIMITERS)]
        delimiter = csv_records.sniff_delimiter("\n".join(body))
    rows = [(start + offset + 1, _fields(line.rstrip("\r").lstrip("\ufeff"), delimiter))
            for offset, line in enumerate(candidates)]
    row, notes = find_header_row(rows, auto=spec.header_row == AUTO)
    if row is None:
        if spec.first_row > 1:
            raise ReadError(f"{name}: no header from row {spec.first_row} on: those rows are blank or past the end")
        return 0  # blank lines only (in the head): the header parser says what is wrong
    warnings.extend(notes)
    return row - 1


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return [line]


# Read rows of too many fields cut to the header's (counted exactly apart): the cut is not
# reported for a later row, nor, with extra_columns, for a first row (its fields name no column).
_TRUNCATED = {"truncate_ragged_lines": True, "extra_columns": "ignore"}


def _polars(options: dict[str, Any]) -> dict[str, Any]:
    """The read options as Polars takes them: ``schema`` lists the column names, each read as text.
    (Kept as names until a read: naming ``pl.String`` imports Polars, which a file the native
    pre-scan clears whole never needs.)"""
    return {**options, "schema": dict.fromkeys(options["schema"], pl.String)}


class _NotUtf8(Exception):
    pass


class _TooManyFields(Exception):
    pass


def _read_csv(name: str, source: bytes | str, options: dict[str, Any]) -> pl.DataFrame:
    try:
        return pl.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source, **_polars(options))
    except pl.exceptions.ComputeError as err:
        message = str(err)
        if "more fields" in message:
            raise _TooManyFields from None
        if "utf-8" in message.lower() or "utf8" in message.lower():
            raise _NotUtf8 from None
        line = csv_records.unbalanced_quote_line(source, options["separator"])
        if line is not None:
            raise ReadError(f"{name}: cannot parse as CSV: the quoted field that starts on line {line} "
                            "is never closed, or has text after its closing quote") from None
        raise ReadError(f"{name}: cannot parse as CSV: {message.splitlines()[0]}") from None
    except pl.exceptions.NoDataError:
        return pl.DataFrame(schema=_polars(options)["schema"])
    except pl.exceptions.SchemaError:  # the first row has more fields than the header
        raise _TooManyFields from None


def _read_with_csv_module(source: bytes | str, delimiter: str, header: list[str]) -> tuple[pl.DataFrame, bool]:
    """The rows as Python's csv module reads them (blank lines skipped, as Polars does), cut or
    padded to the header's width; and whether some row had too many fields."""
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    too_long = False
    rows = csv_records.read_records(source, delimiter)
    next(rows, None)
    for record in rows:
        if not record:
            continue
        too_long = too_long or len(record) > width
        for position, column in enumerate(columns):
            column.append(record[position] if position < len(record) else None)
    return pl.DataFrame(dict(zip(header, columns, strict=True)), schema={c: pl.String for c in header}), too_long


def _streamed_csv(
    name: str, path: str, delimiter: str, header: list[str], options: dict[str, Any], warnings: list[str],
    batch_rows: int | None, data_start: int | None,
) -> Table:
    """A file too big to hold: batches from Polars' streaming reader, memory bounded by ``batch_rows``."""
    def read_streamed() -> TableContent:
        def batches() -> Iterator[pl.DataFrame]:
            lazy = pl.scan_csv(path, **_polars(options | _TRUNCATED))
            try:
                yield from lazy.collect_batches(chunk_size=batch_rows or STREAM_BATCH_ROWS, lazy=True)
            except pl.exceptions.ComputeError as err:
                raise ReadError(f"{name}: cannot parse as CSV: {str(err).splitlines()[0]}") from None

        if csv_records.has_bare_cr(path):
            raise ReadError(
                f"{name}: a line ends in a bare CR (a carriage return without LF), which only files up to "
                f"{WHOLE_FILE_BYTES // 2**20} MiB are read with; end its lines in LF or CRLF"
            )
        return TableContent(batches, None, csv_records.ragged_rows(path, delimiter, len(header)))

    return Table(name, header, warnings, read_streamed,
                 CsvFile(name, path, delimiter, options, batch_rows, data_start))
