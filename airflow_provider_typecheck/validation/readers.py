"""Read spreadsheets as text: every cell a string, in batches of bounded size.

CSV goes through Polars' reader; XLSX and XLS through fastexcel, asking for
every column as text (fastexcel's own type inference turns text in a column
it takes for numeric into null, silently) and then writing each cell the way
the typing contract says a person sees it.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from airflow_provider_typecheck.validation import workbooks
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.limits import WorkbookLimits, check_workbook

CSV_EXTENSIONS = {".csv", ".tsv", ".txt"}
EXCEL_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
DELIMITERS = [",", ";", "\t", "|"]
SNIFF_BYTES = 64 * 1024
# Files up to this size are read in one piece (fastest) and checked in batches of
# WHOLE_FILE_BATCH_ROWS; larger ones stream in batches of STREAM_BATCH_ROWS rows
# unless told otherwise, which bounds memory (about 0.8 GB peak with ten text
# columns, whatever the file's size).
WHOLE_FILE_BYTES = 256 * 1024 * 1024
WHOLE_FILE_BATCH_ROWS = 1_000_000
STREAM_BATCH_ROWS = 200_000


@dataclass(frozen=True)
class RaggedRow:
    row: int  # spreadsheet row number (header = 1)
    fields: int
    expected: int
    extra: tuple[str, ...] = ()  # the fields beyond the header's, which the row's cells leave out


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

    def head(self, rows: int) -> pl.DataFrame:
        """The first ``rows`` data rows, as text."""
        source = io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
        try:
            return pl.read_csv(source, **self.options, n_rows=rows)
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            # A ragged or unusual head: no sample, and the scan will decline the file anyway.
            return pl.DataFrame(schema=self.options["schema"])

    def records(self, data: bytes) -> pl.DataFrame:
        """A header record and some of the file's records, read exactly as the whole file would be."""
        return _read_csv(self.name, data, self.options)

    @contextmanager
    def mapped(self) -> Iterator[bytes | mmap.mmap]:
        with _mapped(self.source) as data:
            yield data


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


def open_table(
    source: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    delimiter: str | None = None,
    batch_rows: int | None = None,
    workbook_limits: WorkbookLimits = WorkbookLimits(),
    encoding: str | None = None,
    header_row: int | None = None,
) -> Table:
    """Open a CSV, XLSX or XLS file from a path or any fsspec URI.

    ``batch_rows`` caps the rows of each batch; a streamed file holds no more
    than one batch at a time (default 200,000 rows streamed, 1,000,000 read whole).
    ``workbook_limits`` bounds what a workbook may inflate to (see :mod:`.limits`).
    A local file must be a regular file: a FIFO or a device would be read forever.
    ``encoding`` (a Python codec name) overrides the CSV encoding detection.
    ``header_row`` is the 1-based row (line of a CSV) holding the header, as a
    spreadsheet numbers rows; the rows above it (report titles) are skipped.
    By default the header is the first row that is not blank.
    """
    if batch_rows is not None and batch_rows < 1:
        raise ValueError(f"batch_rows must be 1 or more, got {batch_rows}")
    if header_row is not None and header_row < 1:
        raise ReadError(f"the header row must be 1 or more (rows count from 1), got {header_row}")
    name = str(source)
    local = _local_path(name)
    if local is not None:
        _check_regular_file(name, local)
    suffix = Path(name.split("?")[0]).suffix.lower()
    if suffix in EXCEL_EXTENSIONS:
        return _open_excel(name, sheet, header_row, workbook_limits)
    if suffix in CSV_EXTENSIONS:
        if sheet is not None:
            raise ReadError(f"{name}: a CSV file has no sheets; a sheet ({sheet!r}) applies to XLSX/XLS files only")
        if delimiter in ('"', "\n", "\r"):
            raise ReadError(f"delimiter {delimiter!r} cannot separate fields: it quotes them or ends a row")
        return _open_csv(name, delimiter, batch_rows, encoding, header_row)
    raise ReadError(f"{name}: unknown file type {suffix or '(no extension)'!r}; expected .csv, .tsv, .xlsx or .xls")


def _check_regular_file(name: str, path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ReadError(f"{name}: file not found") from None
    except OSError as err:
        raise ReadError(f"{name}: cannot open: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise ReadError(f"{name}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ReadError(f"{name}: not a regular file (a FIFO, device or socket); give the path of a file")


def _local_path(name: str) -> str | None:
    if "://" not in name:
        return name
    if name.startswith("file://"):
        return name[len("file://"):]
    return None


@contextmanager
def _opened(name: str) -> Iterator[Any]:
    """The file behind a path or fsspec URI, with the ways opening fails turned into ReadError."""
    try:
        local = _local_path(name)
        if local is not None:
            with open(local, "rb") as handle:
                yield handle
            return
        import fsspec  # only for remote URIs: it costs 0.1 s of start-up

        with fsspec.open(name, "rb") as handle:
            yield handle
    except FileNotFoundError:
        raise ReadError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ReadError(f"{name}: is a directory, not a file") from None
    except ImportError as err:  # fsspec backends are optional: http:// needs aiohttp, s3:// s3fs
        raise ReadError(f"{name}: reading it needs a package that is not installed: {err}") from None
    except (OSError, ValueError) as err:
        raise ReadError(f"{name}: cannot open: {err}") from None


def _read_bytes(name: str) -> bytes:
    with _opened(name) as handle:
        return handle.read()


def _head(name: str, size: int = SNIFF_BYTES) -> bytes:
    with _opened(name) as handle:
        return handle.read(size)


def check_header(name: str, header: list[str]) -> None:
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if column.strip() == "":
            raise ReadError(f"{name}: header column {position} is empty; every column needs a name")
        if column in seen:
            raise ReadError(f"{name}: header names column {column!r} more than once")
        seen.add(column)


# --------------------------------------------------------------------------- CSV


_BYTE_ORDER_MARKS = [  # UTF-32's marks begin with UTF-16's: they come first
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


def _decode_head(name: str, head: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of the file's head and the encoding it is read with (``utf8`` for UTF-8).

    ``encoding`` is the caller's; without it, a UTF-16 or UTF-32 byte order
    mark decides, else UTF-8 if the head decodes, else cp1252, else latin-1.
    """
    if encoding is None:
        encoding = next((codec for mark, codec in _BYTE_ORDER_MARKS if head.startswith(mark)), None)
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise ReadError(f"unknown encoding {encoding!r} (give a Python codec name, e.g. cp1253)") from None
        if codec == "utf-8":
            codec = "utf8"
        try:
            return codecs.getincrementaldecoder(codec if codec != "utf8" else "utf-8-sig")().decode(head), codec
        except UnicodeDecodeError as err:
            line = head.count(b"\n", 0, err.start) + 1
            raise ReadError(f"{name}: not {encoding} text: line {line} holds bytes that cannot be decoded") from None
    if b"\x00" in head:
        raise ReadError(f"{name}: looks like a binary file (NUL bytes), not CSV text; "
                        "if it is text in UTF-16 or UTF-32 without a byte order mark, give its encoding")
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False), "utf8"
    except UnicodeDecodeError:
        pass
    try:
        return head.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return head.decode("latin-1"), "latin-1"


# One physical line as Python's csv module is handed it (open(..., newline="")): ended by CRLF, CR or LF.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def first_record(data: bytes, delimiter: str, encoding: str = "utf8", *, whole: bool) -> tuple[list[str], bytes] | None:
    """The first record of CSV ``data`` as Python's csv module reads it: its fields, and its bytes
    with its line ending. None when ``data``, not the ``whole`` file, may end inside it.

    A quote inside an unquoted field is text (``len"``), a quoted field may hold newlines, and
    a bare CR ends a line, as in the csv module; Polars and the native scan follow this record.
    """
    lines = _LINE.findall(data)
    if not whole:
        lines = lines[:-1]  # it may be cut short, or a CR whose LF has not been read
    consumed = 0

    def fed() -> Iterator[str]:
        nonlocal consumed
        for index, line in enumerate(lines):
            consumed += len(line)
            yield line.decode("utf-8-sig" if encoding == "utf8" and index == 0 else encoding, errors="replace")

    try:
        record = next(csv.reader(fed(), delimiter=delimiter), None)
    except csv.Error:
        record = None
    if record is None or (not whole and consumed == sum(map(len, lines))):
        return None  # the csv module stops at the end of its input, even inside a quoted field
    return record, data[:consumed]


def _header(name: str, delimiter: str, head: Callable[[int], tuple[bytes, bool]]) -> tuple[list[str], bytes]:
    """The header's names and record (see :func:`first_record`), reading on past the first
    ``SNIFF_BYTES`` as far as a long header needs (a 100,000-column header is over a megabyte).
    ``head(size)`` gives the text from the header on, as UTF-8, and whether it is the whole file."""
    size = SNIFF_BYTES
    while True:
        data, whole = head(size)
        found = first_record(data, delimiter, "utf8", whole=whole)
        if found is not None:
            return found
        if whole:
            raise ReadError(f"{name}: cannot parse the header row")
        size *= 4


def header_record(data: bytes | mmap.mmap, delimiter: str) -> bytes:
    """The header record's bytes (see :func:`first_record`) at the start of a whole UTF-8 file."""
    size = SNIFF_BYTES
    while True:
        whole = size >= len(data)
        found = first_record(data[:size], delimiter, whole=whole)
        if found is not None:
            return found[1]
        if whole:
            return b""
        size *= 4


def _line_count(record: bytes) -> int:
    """The lines Polars skips for this record: its LFs, and the CR or end of file that ends it."""
    return record.count(b"\n") + (not record.endswith(b"\n"))


def sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the first lines most consistently."""
    lines = [line for line in text.splitlines()[:20] if line]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        counts = [len(row) - 1 for row in csv.reader(lines[:1] + lines[1:-1] if len(lines) > 2 else lines,
                                                      delimiter=candidate)]
        if not counts or counts[0] == 0:
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = candidate, score
    return best


def _open_csv(
    name: str, delimiter: str | None, batch_rows: int | None, given_encoding: str | None = None,
    header_row: int | None = None,
) -> Table:
    head = _head(name)
    if not head.strip():
        raise ReadError(f"{name}: the file is empty; expected a header row")
    text, encoding = _decode_head(name, head, given_encoding)
    warnings: list[str] = []
    skipped = _lines_above_header(name, text, header_row)
    if skipped:
        text = text.split("\n", skipped)[skipped]
    if delimiter is None:
        delimiter = sniff_delimiter(text)
    elif len(delimiter.encode("utf-8")) != 1:
        # Polars (and the native pre-scan) split fields on one byte.
        raise ReadError(f"delimiter must be one single-byte (ASCII) character, got {delimiter!r}")

    def header_bytes(size: int) -> tuple[bytes, bool]:
        """The file's first ``size`` bytes as UTF-8 from the header on, and whether that is all of it."""
        raw = head if size <= len(head) else _head(name, size)
        below_titles = text if raw is head else _decode_head(name, raw, encoding)[0].split("\n", skipped)[-1]
        return below_titles.encode("utf-8"), len(raw) < size

    header, header_record = _header(name, delimiter, header_bytes)
    check_header(name, header)

    local = _local_path(name)
    source: bytes | str
    if encoding == "utf8" and local is not None and not skipped:
        source = local
    else:
        source = _as_utf8(name, _read_bytes(name), encoding, warnings, guessed=given_encoding is None)
        if skipped:
            source = source.split(b"\n", skipped)[skipped]
    streamed = isinstance(source, str) and os.path.getsize(source) > WHOLE_FILE_BYTES
    if header_record.endswith(b"\r") and not streamed:  # a bare CR ends the header: Polars must see an LF
        source = _lf_for_bare_crs(_as_bytes(source), delimiter) or source
    # Polars skips the header record's lines unparsed: its own parse of a header holding a
    # quote inside a name (item,len",id) ran on into the next rows.
    options: dict[str, Any] = dict(
        separator=delimiter, has_header=False, skip_lines=_line_count(header_record),
        schema={column: pl.String for column in header}, missing_columns="insert",
        raise_if_empty=False, quote_char='"',
    )
    if streamed:
        return _streamed_csv(name, source, delimiter, header, options, warnings, batch_rows)

    def read(text_source: bytes | str) -> tuple[pl.DataFrame, bool]:
        """The frame, and whether some row had too many fields (then truncated)."""
        if _quote_after_space(text_source, delimiter):
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
            text_source = _as_utf8(name, _read_bytes(name), "cp1252" if given_encoding is None else encoding,
                                   warnings, guessed=given_encoding is None)
            if skipped:
                text_source = text_source.split(b"\n", skipped)[skipped]
            frame, too_long = read(text_source)
        except ReadError:  # a bare CR after a closing quote is text after it, to Polars: malformed
            normalised = _lf_for_bare_crs(_as_bytes(text_source), delimiter)
            if normalised is None:
                raise
            text_source = normalised
            frame, too_long = read(text_source)
        # Polars takes a bare CR for text: it hides in a cell, or was cut off with a too-long row's extras.
        if _may_hold_bare_cr(text_source):
            normalised = _lf_for_bare_crs(_as_bytes(text_source), delimiter)
            if normalised is not None:
                text_source = normalised
                frame, too_long = read(text_source)
        # Polars drops the empty field after a delimiter that ends the file: that row may be too long.
        too_long = too_long or _last_byte(text_source) == delimiter.encode()
        ragged: list[RaggedRow] = []
        if too_long:
            ragged = _ragged_rows(text_source, delimiter, len(header))
        else:
            last = frame.get_column(header[-1]) if frame.width else None
            # Polars pads a short row with nulls, and reads a quoted empty field ("") as an
            # empty string: only rows whose last cell is null can be short.
            suspects = last.is_null().arg_true() if last is not None else None
            if suspects is not None and suspects.len() and not _bytes_add_up(text_source, delimiter, frame):
                ragged = [r for r in _ragged_rows(text_source, delimiter, len(header), suspects)
                          if r.fields < r.expected]
        if skipped:
            ragged = [RaggedRow(r.row + skipped, r.fields, r.expected, r.extra) for r in ragged]

        def batches() -> Iterator[pl.DataFrame]:
            step = batch_rows or WHOLE_FILE_BATCH_ROWS
            for offset in range(0, max(frame.height, 1), step):
                yield frame.slice(offset, step)

        return TableContent(batches, frame.height, ragged)

    return Table(name, header, warnings, read_whole, CsvFile(name, source, delimiter, options, batch_rows),
                 first_row=skipped + 2)


def _lines_above_header(name: str, text: str, header_row: int | None) -> int:
    """How many lines come before the header: ``header_row - 1``, else the leading blank lines."""
    lines = text.split("\n")
    if header_row is None:
        blank = 0
        while blank < len(lines) - 1 and not lines[blank].strip("\r\ufeff"):
            blank += 1
        return blank
    if header_row > len(lines) or not lines[header_row - 1].strip("\r\ufeff"):
        raise ReadError(f"{name}: no header at row {header_row}: that row is blank or past the end")
    return header_row - 1


# Read rows of too many fields cut to the header's (counted exactly apart): the cut is not
# reported for a later row, nor, with extra_columns, for a first row (its fields name no column).
_TRUNCATED = {"truncate_ragged_lines": True, "extra_columns": "ignore"}


class _NotUtf8(Exception):
    pass


class _TooManyFields(Exception):
    pass


def _as_utf8(name: str, raw: bytes, encoding: str, warnings: list[str], guessed: bool = True) -> bytes:
    """The file's bytes as UTF-8.

    With a ``guessed`` encoding, bytes that are not UTF-8 are decoded as cp1252
    (else latin-1), which any legacy file decodes to, rightly or not: the
    warning says so, and how to name the encoding.
    """
    if not guessed or encoding not in ("utf8", "cp1252", "latin-1"):
        codec = "utf-8-sig" if encoding == "utf8" else encoding
        try:
            decoded = raw.decode(codec)
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            raise ReadError(f"{name}: not {encoding} text: line {line} holds bytes that cannot be decoded") from None
        if guessed:
            warnings.append(f"read the file as {encoding.upper()} (it starts with a byte order mark)")
        return decoded.encode("utf-8")
    if encoding == "utf8":
        try:
            raw.decode("utf-8")
            return raw
        except UnicodeDecodeError:
            pass
    try:
        decoded, encoding = raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        decoded, encoding = raw.decode("latin-1"), "latin-1"
    warnings.append(f"the file is not UTF-8; read it as {encoding}, a guess: if its text is Greek, Cyrillic "
                    "or another script, name its encoding (--encoding NAME, e.g. cp1253 or cp1251)")
    return decoded.encode("utf-8")


def _read_csv(name: str, source: bytes | str, options: dict[str, Any]) -> pl.DataFrame:
    try:
        return pl.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source, **options)
    except pl.exceptions.ComputeError as err:
        message = str(err)
        if "more fields" in message:
            raise _TooManyFields from None
        if "utf-8" in message.lower() or "utf8" in message.lower():
            raise _NotUtf8 from None
        line = _unbalanced_quote_line(source, options["separator"])
        if line is not None:
            raise ReadError(f"{name}: cannot parse as CSV: the quoted field that starts on line {line} "
                            "is never closed, or has text after its closing quote") from None
        raise ReadError(f"{name}: cannot parse as CSV: {message.splitlines()[0]}") from None
    except pl.exceptions.NoDataError:
        return pl.DataFrame(schema=options["schema"])
    except pl.exceptions.SchemaError:  # the first row has more fields than the header
        raise _TooManyFields from None


def _quote_after_space(source: bytes | str, delimiter: str) -> bool:
    """Whether a field starts with spaces then a quote (``1, "a, b"``), which Python's csv
    module reads as an unquoted field and Polars does not always: such files are read by
    the csv module, as the ragged-row count is."""
    pattern = re.compile(rb"(?:^|" + re.escape(delimiter.encode()) + rb")[ \t]+\"", re.MULTILINE)
    with _mapped(source) as data:
        return pattern.search(data) is not None


def _read_with_csv_module(source: bytes | str, delimiter: str, header: list[str]) -> tuple[pl.DataFrame, bool]:
    """The rows as Python's csv module reads them (blank lines skipped, as Polars does), cut or
    padded to the header's width; and whether some row had too many fields."""
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    too_long = False
    records = _records(source, delimiter)
    next(records, None)
    for record in records:
        if not record:
            continue
        too_long = too_long or len(record) > width
        for position, column in enumerate(columns):
            column.append(record[position] if position < len(record) else None)
    return pl.DataFrame(dict(zip(header, columns, strict=True)), schema={c: pl.String for c in header}), too_long


def _unbalanced_quote_line(source: bytes | str, delimiter: str) -> int | None:
    """The line where the record that Python's strict csv reader cannot finish starts."""
    records = csv.reader(_text_lines(source), delimiter=delimiter, strict=True)
    finished = 0
    try:
        for _ in records:
            finished = records.line_num
    except csv.Error:
        return finished + 1
    return None


def _text_lines(source: bytes | str) -> Iterator[str]:
    if isinstance(source, bytes):
        yield from io.TextIOWrapper(io.BytesIO(source), encoding="utf-8-sig", errors="replace", newline="")
        return
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from handle


def _streamed_csv(
    name: str, path: str, delimiter: str, header: list[str], options: dict[str, Any], warnings: list[str],
    batch_rows: int | None,
) -> Table:
    """A file too big to hold: batches from Polars' streaming reader, memory bounded by ``batch_rows``."""
    def read_streamed() -> TableContent:
        def batches() -> Iterator[pl.DataFrame]:
            lazy = pl.scan_csv(path, **options | _TRUNCATED)
            try:
                yield from lazy.collect_batches(chunk_size=batch_rows or STREAM_BATCH_ROWS, lazy=True)
            except pl.exceptions.ComputeError as err:
                raise ReadError(f"{name}: cannot parse as CSV: {str(err).splitlines()[0]}") from None

        if _has_bare_cr(path):
            raise ReadError(
                f"{name}: a line ends in a bare CR (a carriage return without LF), which only files up to "
                f"{WHOLE_FILE_BYTES // 2**20} MiB are read with; end its lines in LF or CRLF"
            )
        return TableContent(batches, None, _ragged_rows(path, delimiter, len(header)))

    return Table(name, header, warnings, read_streamed, CsvFile(name, path, delimiter, options, batch_rows))


def _lines(source: bytes | str) -> pl.LazyFrame:
    """The data lines of a CSV (header skipped), unparsed, one per row."""
    return pl.scan_csv(
        source if isinstance(source, str) else io.BytesIO(source),
        has_header=False, separator="\x1f", quote_char=None, infer_schema=False,
        new_columns=["line"], skip_rows=1, raise_if_empty=False,
    )


def _records(data: bytes | str, delimiter: str) -> Iterator[list[str]]:
    # The csv module refuses fields over 128 KiB by default; Polars has read the same
    # fields whole already, so the module's limit guards nothing here. (It is process-wide.)
    csv.field_size_limit(max(csv.field_size_limit(), sys.maxsize))
    if isinstance(data, bytes):
        handle: Any = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    else:
        handle = open(data, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    try:
        yield from csv.reader(handle, delimiter=delimiter)
    finally:
        handle.close()


def _as_bytes(source: bytes | str) -> bytes:
    if isinstance(source, bytes):
        return source
    with open(source, "rb") as handle:
        return handle.read()


def _last_byte(source: bytes | str) -> bytes:
    if isinstance(source, bytes):
        return source[-1:]
    with open(source, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(handle.tell() - 1, 0))
        return handle.read(1)


_BARE_CR = re.compile(rb"\r(?!\n)")


def _may_hold_bare_cr(source: bytes | str) -> bool:
    """Whether a CR stands without its LF, in a quoted field or not (:func:`_lf_for_bare_crs`
    decides then). One memchr pass on an LF file."""
    with _mapped(source) as data:
        return data.find(b"\r") >= 0 and _BARE_CR.search(data) is not None


def _lf_for_bare_crs(data: bytes, delimiter: str) -> bytes | None:
    """``data`` with an LF for each CR that ends a line on its own, outside quoted fields; None if none does.

    Python's csv module ends a line at a CR, an LF or both (old Mac files end every line in
    a CR, and some files mix the three); Polars ends lines at LF only and would read a bare
    CR as text, joining two rows. Quoted fields keep their CRs, as both read them.
    """
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    separator = re.escape(delimiter.encode())
    # A quote opens a quoted field only at a field's start; after its closing quote the field
    # runs on, as text, to the delimiter or the line's end (the csv module's non-strict reading).
    field_start = rb"(?:\A|(?<=[" + separator + rb"\r\n]))"
    quoted = rb'"(?:[^"]|"")*(?:"[^' + separator + rb'\r\n]*)?'
    pattern = re.compile(field_start + b"(" + quoted + rb")|\r(?!\n)")
    crs = 0

    def replace(match: re.Match[bytes]) -> bytes:
        nonlocal crs
        if match.group(1) is not None:
            return match.group(1)
        crs += 1
        return b"\n"

    normalised = pattern.sub(replace, data[len(bom):])
    return bom + normalised if crs else None


def _has_bare_cr(path: str, chunk_bytes: int = 16 * 1024 * 1024) -> bool:
    """Whether a CR not followed by an LF is in the file, in a quoted field or not."""
    with open(path, "rb") as handle:
        previous = b""
        while chunk := handle.read(chunk_bytes):
            if previous == b"\r" and not chunk.startswith(b"\n"):
                return True
            body = chunk[:-1] if chunk.endswith(b"\r") else chunk
            if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
                return True
            previous = chunk[-1:]
        return previous == b"\r"


def _has_quote(source: bytes | str, chunk_bytes: int = 16 * 1024 * 1024) -> bool:
    """Whether the file holds a quote character.

    Plain reads, not mmap: mapped pages of a file bigger than memory count as resident.
    """
    if isinstance(source, bytes):
        return b'"' in source
    with open(source, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            if b'"' in chunk:
                return True
    return False


def _bytes_add_up(source: bytes | str, delimiter: str, frame: pl.DataFrame) -> bool:
    """True when the file's size proves that no row is short, at the cost of a few memchr passes.

    Each line is its cells' bytes, one delimiter less than its fields, its line
    ending, and the quote characters Polars took out (a field's two, one of
    each escaped pair). A short row holds fewer delimiters than the header's
    fields, so a file of exactly ``header line + cell bytes + rows * (fields -
    1 + ending) + quote characters`` bytes has none. Everything else that could
    change the size only makes the file shorter than that (blank lines, a
    ``\\n`` in a CRLF file, an escaped quote, which leaves one of its two
    characters in the cell), never longer, as long as no ``\\r`` before a
    newline is taken out of an LF file. Anything unexpected answers False, and
    the exact scan decides.
    """
    with _mapped(source) as data:
        header = header_record(data, delimiter)
        if not header.endswith(b"\n"):
            return False
        end_of_header = len(header) - 1
        header_quotes = header.count(b'"')
        crlf = header.endswith(b"\r\n")
        if not crlf and data.find(b"\r") >= 0:
            return False
        quotes = _count(data, b'"') - header_quotes if data.find(b'"') >= 0 else 0
        ending = 2 if crlf else 1
        size = len(data)
        unterminated = data[size - 1:] != b"\n"
    cell_bytes = sum(count or 0 for count in frame.select(pl.all().str.len_bytes().sum()).row(0))
    expected = end_of_header + 1 + cell_bytes + quotes + frame.height * (frame.width - 1 + ending)
    return size == expected - (ending if unterminated else 0)


def _count(data: bytes | mmap.mmap, byte: bytes, step: int = 8 * 1024 * 1024) -> int:
    return sum(data[start:start + step].count(byte) for start in range(0, len(data), step))


@contextmanager
def _mapped(source: bytes | str) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes without copying them (only files read whole come here)."""
    if isinstance(source, bytes):
        yield source
        return
    with open(source, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data


def _ragged_rows(
    source: bytes | str, delimiter: str, expected: int, rows: pl.Series | None = None
) -> list[RaggedRow]:
    """Rows whose field count differs from the header's.

    In a file without quote characters every line is one record, so counting
    delimiters per line (in Polars, streaming) is exact. With quotes, fields
    may hold delimiters and newlines: Python's csv module counts instead.
    """
    if not _has_quote(source):
        fields = pl.col("line").str.count_matches(delimiter, literal=True).fill_null(0) + 1
        lines = _lines(source).with_row_index("index")
        if rows is not None:  # only these (0-based) rows can be ragged
            lines = lines.filter(pl.col("index").is_in(rows.cast(pl.UInt32).implode()))
        bad = (
            lines.select("index", fields.alias("fields"), pl.col("line"))
            .filter(pl.col("fields") != expected).collect(engine="streaming")
        )
        return [
            RaggedRow(int(index) + 2, int(count), expected, tuple((line or "").rstrip("\r").split(delimiter)[expected:]))
            for index, count, line in bad.iter_rows()
        ]
    ragged = []
    reader = _records(source, delimiter)
    next(reader, None)
    for row_number, record in enumerate(reader, start=2):
        if record and len(record) != expected:
            ragged.append(RaggedRow(row_number, len(record), expected, tuple(record[expected:])))
    return ragged


# --------------------------------------------------------------------------- Excel

_EXCEL_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
_NUMERAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _open_excel(name: str, sheet: str | int | None, header_row: int | None, limits: WorkbookLimits) -> Table:
    import fastexcel

    data = _read_bytes(name)
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
