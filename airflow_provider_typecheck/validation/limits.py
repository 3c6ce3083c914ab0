"""Limits on what a workbook may cost before it is read, and the defaults of every core limit.

A workbook is a zip archive of XML parts: a few megabytes can inflate to
gigabytes of sheet XML, and the reader holds all of it (a 6.9 MB file of 2.4 GB
XML took 8 GB of memory). The archive's directory says how big each part is, and
a sheet's ``<dimension>`` says how many cells it spans, before a byte is inflated.
"""

from __future__ import annotations

import io
import re
import zipfile
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

    XLSX, XLSM, XLSB and ODS files are zip archives: the sizes their directory
    declares are summed, and each worksheet's declared ``<dimension>`` is
    counted. An XLS file is not compressed: its own size is what is capped.
    Archives the zip module cannot read are left to the reader's own error.
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
                f"{name}: sheet {part.filename.rsplit('/', 1)[-1]!r} spans {cells:,} cells; "
                f"the limit is {limits.max_cells:,}"
            )


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
