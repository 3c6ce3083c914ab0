"""CSV records as Python's csv module reads them: the header record, the delimiter, bare CRs, ragged rows."""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import re
import sys
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.readers.sources import mapped
from airflow_provider_typecheck.validation.readers.table import RaggedRow

DELIMITERS = [",", ";", "\t", "|"]
SNIFF_BYTES = 64 * 1024
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


def read_header(name: str, delimiter: str, head: Callable[[int], tuple[bytes, bool]]) -> tuple[list[str], bytes]:
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


def line_count(record: bytes) -> int:
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


def quote_after_space(source: bytes | str, delimiter: str) -> bool:
    """Whether a field starts with spaces then a quote (``1, "a, b"``), which Python's csv
    module reads as an unquoted field and Polars does not always: such files are read by
    the csv module, as the ragged-row count is."""
    pattern = re.compile(rb"(?:^|" + re.escape(delimiter.encode()) + rb")[ \t]+\"", re.MULTILINE)
    with mapped(source) as data:
        return pattern.search(data) is not None


def unbalanced_quote_line(source: bytes | str, delimiter: str) -> int | None:
    """The line where the record that Python's strict csv reader cannot finish starts."""
    reader = csv.reader(_text_lines(source), delimiter=delimiter, strict=True)
    finished = 0
    try:
        for _ in reader:
            finished = reader.line_num
    except csv.Error:
        return finished + 1
    return None


def _text_lines(source: bytes | str) -> Iterator[str]:
    if isinstance(source, bytes):
        yield from io.TextIOWrapper(io.BytesIO(source), encoding="utf-8-sig", errors="replace", newline="")
        return
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from handle


def _lines(source: bytes | str) -> pl.LazyFrame:
    """The data lines of a CSV (header skipped), unparsed, one per row."""
    return pl.scan_csv(
        source if isinstance(source, str) else io.BytesIO(source),
        has_header=False, separator="\x1f", quote_char=None, infer_schema=False,
        new_columns=["line"], skip_rows=1, raise_if_empty=False,
    )


def read_records(data: bytes | str, delimiter: str) -> Iterator[list[str]]:
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


_BARE_CR = re.compile(rb"\r(?!\n)")


def may_hold_bare_cr(source: bytes | str) -> bool:
    """Whether a CR stands without its LF, in a quoted field or not (:func:`lf_for_bare_crs`
    decides then). One memchr pass on an LF file."""
    with mapped(source) as data:
        return data.find(b"\r") >= 0 and _BARE_CR.search(data) is not None


def lf_for_bare_crs(data: bytes, delimiter: str) -> bytes | None:
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


def has_bare_cr(path: str, chunk_bytes: int = 16 * 1024 * 1024) -> bool:
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


def bytes_add_up(source: bytes | str, delimiter: str, frame: pl.DataFrame) -> bool:
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
    with mapped(source) as data:
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


def ragged_rows(
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
    reader = read_records(source, delimiter)
    next(reader, None)
    for row_number, record in enumerate(reader, start=2):
        if record and len(record) != expected:
            ragged.append(RaggedRow(row_number, len(record), expected, tuple(record[expected:])))
    return ragged


# Few suspect records are cheaper to split here than to hand to Polars (0.15 s to import).
PLAIN_READ_BYTES = 1024 * 1024


@lru_cache(maxsize=8)
def _field_pattern(delimiter: str) -> re.Pattern[str]:
    """A quoted field (quotes doubled inside) or an unquoted one (no quote, CR, LF or delimiter)."""
    return re.compile(r'"([^"]*(?:""[^"]*)*)"|([^"\r\n' + re.escape(delimiter) + r"]*)")


def scanned_rows(data: bytes, delimiter: str, width: int) -> list[tuple[str | None, ...]] | None:
    """The records after the header record in ``data``, as Polars reads them with every column
    as text: an unquoted empty field and a missing one are null, a quoted empty one ``""``.

    For the records the native pre-scan hands back (it declines files with stray quotes or
    CRs, blank rows, rows too long, bytes that are not UTF-8): None for anything else, or for
    more than ``PLAIN_READ_BYTES``, which Polars then reads.
    """
    if len(data) > PLAIN_READ_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if '"' not in text and "\r" not in text.replace("\r\n", "\n"):
        # No quoted field: one record a line (CRLF or LF), split at each delimiter.
        lines = text.replace("\r\n", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()  # the last newline ends a record; it does not start one
        split = [line.split(delimiter) for line in lines[1:]]
        if any(len(fields) > width or fields == [""] for fields in split):
            return None
        return [(*(field or None for field in fields), *(None,) * (width - len(fields))) for fields in split]
    field = _field_pattern(delimiter)
    rows: list[tuple[str | None, ...]] = []
    at, size = 0, len(text)
    while at < size:
        fields: list[str | None] = []
        while True:
            match = field.match(text, at)
            quoted, plain = match.groups()  # the pattern always matches: an unquoted field may be empty
            fields.append(quoted.replace('""', '"') if quoted is not None else plain or None)
            at = match.end()
            if at < size and text[at] == delimiter:
                at += 1
                continue
            break
        if text.startswith("\r\n", at):
            at += 2
        elif text.startswith("\n", at):
            at += 1
        elif at < size:
            return None  # a quote or CR where a field ends: not a record the scan passed
        if len(fields) > width or fields == [None]:
            return None  # too long, or blank: Polars would read it otherwise
        rows.append((*fields, *(None,) * (width - len(fields))))
    return rows[1:]  # less the header record
