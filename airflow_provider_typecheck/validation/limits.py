"""Limits on what a workbook may cost before it is read, and the defaults of every core limit.

A workbook is a zip archive of XML parts: a few megabytes can inflate to
gigabytes of sheet XML, and the reader holds all of it (a 6.9 MB file of 2.4 GB
XML took 8 GB of memory). The archive's directory says how big each part is,
but an attacker writes that directory: a sheet declared as 1,000 bytes inflated
to 600 MiB in the reader. So each part is inflated here, streaming and counted,
stopping at the limit, before the reader sees the file; a sheet's
``<dimension>`` says how many cells it spans.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from airflow_provider_typecheck.validation.errors import ReadError

MiB = 1024 * 1024
# A workbook's XML takes about 3.3 times its size in memory once read: 512 MiB of XML is
# about 1.7 GB, and a 1,000,000-row sheet of ten columns is about 300 MiB of XML.
DEFAULT_MAX_WORKBOOK_UNCOMPRESSED_BYTES = 512 * MiB
DEFAULT_MAX_WORKBOOK_CELLS = 20_000_000
# Real schemas are kilobytes; 1,000 columns with 200-value enums make 1.5 MB.
DEFAULT_MAX_SCHEMA_BYTES = 4 * MiB
# python-jsonschema's own meta-validation exhausts Python's recursion limit at about
# 125 levels of nesting; 64 leaves half the stack to the caller (a worker thread, a
# web server) and is as deep as the compiler vectorises.
DEFAULT_MAX_SCHEMA_DEPTH = 64

_ZIP_MAGIC = b"PK\x03\x04"
_SHEET_PART = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?\"")
# The dimension comes before the sheet's data, within its first few hundred bytes.
_SHEET_HEAD_BYTES = 64 * 1024
# Inflating is counted in steps: compressed input read at a time, and output produced
# per call (then dropped), so memory stays flat whatever the part inflates to.
_INFLATE_INPUT = 1 * MiB
_INFLATE_OUTPUT = 4 * MiB
# A part's local header: signature, version and flags, method, time, date, CRC and sizes, name and extra lengths.
_LOCAL_HEADER = struct.Struct("<4s4xH16xHH")
_STORED, _DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


@dataclass(frozen=True)
class WorkbookLimits:
    """How big a workbook may be: its parts' total inflated size, and the cells a sheet spans."""

    max_uncompressed_bytes: int = DEFAULT_MAX_WORKBOOK_UNCOMPRESSED_BYTES
    max_cells: int = DEFAULT_MAX_WORKBOOK_CELLS


@dataclass(frozen=True)
class Limits:
    """Every limit the core applies, in one value: the CLI, the workers, the operator's
    local mode and the registry all take it from the settings (``services.limits``)."""

    max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES
    max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
    workbook: WorkbookLimits = WorkbookLimits()


def check_workbook(name: str, data: bytes, limits: WorkbookLimits = WorkbookLimits()) -> None:
    """Refuse a workbook past ``limits`` before it is inflated, with a :class:`ReadError`.

    XLSX, XLSM, XLSB and ODS files are zip archives: the bytes each part
    really inflates to are counted (the directory's sizes are not trusted), and
    each worksheet's declared ``<dimension>`` is counted. An XLS file is not
    compressed: its own size is what is capped. Archives the zip module cannot
    read are left to the reader's own error.
    """
    if len(data) > limits.max_uncompressed_bytes:
        raise ReadError(f"{name}: the workbook is {len(data):,} bytes; the limit is {limits.max_uncompressed_bytes:,}")
    if not data.startswith(_ZIP_MAGIC):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return
    inflated = sum(part.file_size for part in parts)
    if inflated <= limits.max_uncompressed_bytes:
        inflated = _inflated_bytes(name, memoryview(data), parts, limits.max_uncompressed_bytes)
    if inflated > limits.max_uncompressed_bytes:
        raise ReadError(
            f"{name}: the workbook inflates to {inflated:,} bytes of XML; the limit is "
            f"{limits.max_uncompressed_bytes:,}"
        )
    for part in parts:
        if not _SHEET_PART.match(part.filename):
            continue
        try:
            with archive.open(part) as sheet:
                head = sheet.read(_SHEET_HEAD_BYTES)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
            return
        cells = _dimension_cells(head)
        if cells is not None and cells > limits.max_cells:
            raise ReadError(
                f"{name}: sheet {_sheet_name(archive, part.filename)!r} spans {cells:,} cells; "
                f"the limit is {limits.max_cells:,}"
            )


def _sheet_name(archive: zipfile.ZipFile, member: str) -> str:
    """The sheet's name as its tab shows it (the XML part's name when the workbook does not say)."""
    from airflow_provider_typecheck.validation.workbooks import sheet_parts

    return next((sheet for sheet, part in sheet_parts(archive) if part == member), member.rsplit("/", 1)[-1])


def _inflated_bytes(name: str, data: memoryview, parts: list[zipfile.ZipInfo], limit: int) -> int:
    """What the parts really inflate to, counted until the total passes ``limit``.

    Each part is inflated from its data's start to the end of its deflate stream,
    whatever sizes the directory declares (no reader can get more out of it), and
    refused as soon as it inflates past the size declared for it.
    """
    total = 0
    for part in parts:
        start, method = _part_data(name, data, part)
        if method == _STORED:
            size = min(part.compress_size, len(data) - start)
        else:
            size = _deflated_part_size(data[start:], min(part.file_size, limit - total))
            if size > part.file_size:
                raise ReadError(f"{name}: part {part.filename!r} inflates past the {part.file_size:,} bytes "
                                "its zip directory declares: the workbook is damaged or forged")
        total += size
        if total > limit:
            break
    return total


def _part_data(name: str, data: memoryview, part: zipfile.ZipInfo) -> tuple[int, int]:
    """Where the part's compressed bytes start, and how they are compressed."""
    if part.header_offset + _LOCAL_HEADER.size > len(data):
        raise ReadError(f"{name}: the workbook is truncated or damaged (its zip archive is incomplete)")
    signature, method, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, part.header_offset)
    if signature != _ZIP_MAGIC or method != part.compress_type:
        raise ReadError(f"{name}: the workbook is damaged (its zip directory and its parts disagree)")
    if method not in (_STORED, _DEFLATED):
        # Excel and LibreOffice only write these; others would go uncounted.
        raise ReadError(f"{name}: part {part.filename!r} uses zip compression method {method}; "
                        "a workbook's parts are stored or deflated")
    return part.header_offset + _LOCAL_HEADER.size + name_length + extra_length, method


def _deflated_part_size(compressed: memoryview, budget: int) -> int:
    """Bytes a raw deflate stream inflates to, up to just past ``budget``; what inflated
    before damage, for a damaged stream (the reader stops there too)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    position = size = 0
    pending = b""
    while not inflater.eof and size <= budget:
        if not pending:
            pending = compressed[position:position + _INFLATE_INPUT]
            position += len(pending)
            if not pending:
                break
        try:
            size += len(inflater.decompress(pending, _INFLATE_OUTPUT))
        except zlib.error:
            break
        pending = inflater.unconsumed_tail
    return size


def _dimension_cells(head: bytes) -> int | None:
    found = _DIMENSION.search(head)
    if found is None:
        return None
    first_column, first_row, last_column, last_row = found.groups()
    if last_column is None:
        return 1
    columns = abs(_column_number(last_column) - _column_number(first_column)) + 1
    rows = abs(int(last_row) - int(first_row)) + 1
    return columns * rows


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number
