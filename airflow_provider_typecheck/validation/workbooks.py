"""What fastexcel does not tell about a workbook: its error cells, and why it cannot be opened.

fastexcel (calamine) reads an error cell (``#DIV/0!``, ``#N/A``...) as an
empty cell, which a nullable column would then accept. The typing contract
says an error cell is its error text, so the cells are found here: in an
XLSX, the sheet's XML holds them as ``<c r="C3" t="e">...<v>#DIV/0!</v></c>``
(one streaming pass over the XML, parsed only where ``t="e"`` occurs); in an
XLS, xlrd reads them, when a cheap look at the bytes shows an error record
may be there at all.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted XLSX is an OLE container with these streams, named in UTF-16.
_ENCRYPTION_STREAMS = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
_XML_CHUNK = 16 * 1024 * 1024
_ERROR_FLAG = re.compile(rb'\st="e"')
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>/]")
_ERROR_CELL = re.compile(
    rb'<(?:\w+:)?c\s(?=[^>]*?\bt="e")[^>]*?\br="([A-Z]+)([0-9]+)"[^>]*(?<!/)>(.*?)</(?:\w+:)?c>', re.DOTALL
)
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
# A BIFF FORMULA record whose cached result is an error (result type 2, then 0xFFFF),
# or a BOOLERR record: a false hit only costs reading the cells with xlrd.
_XLS_ERROR_RECORD = re.compile(rb"\x06\x00..(?:.{6})\x02\x00.{4}\xff\xff|\x05\x02\x08\x00", re.DOTALL)
_XLRD_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
                0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


# The error cells of one sheet: ``(row, column) -> text``, both 0-based from A1.
ErrorCells = dict[tuple[int, int], str]


def unreadable_reason(data: bytes, suffix: str) -> str:
    """One line saying why a workbook fastexcel refused cannot be read."""
    if data[:8] == OLE_MAGIC and any(name in data for name in _ENCRYPTION_STREAMS):
        return "the workbook is password-protected (encrypted); save a copy without a password"
    if data[:4] == ZIP_MAGIC:
        try:
            zipfile.ZipFile(io.BytesIO(data)).testzip()
        except (zipfile.BadZipFile, EOFError, OSError):
            return "the workbook is truncated or damaged (its zip archive is incomplete)"
        return "the zip archive holds no workbook fastexcel can read"
    if data[:8] == OLE_MAGIC:
        return "the workbook is truncated or damaged (a broken Excel 97-2003 container)"
    if not data:
        return "the file is empty"
    return f"not an Excel workbook (a {suffix} file is a zip or OLE container; this one starts with {data[:8]!r})"


def error_cells(data: bytes, sheet_index: int) -> ErrorCells | None:
    """The error cells of the sheet at ``sheet_index``; None when it has none (or is no XLSX/XLS)."""
    if data[:4] == ZIP_MAGIC:
        return _xlsx_error_cells(data, sheet_index)
    if data[:8] == OLE_MAGIC and _XLS_ERROR_RECORD.search(data):
        return _xls_error_cells(data, sheet_index)
    return None


def column_index(letters: bytes | str) -> int:
    """``A`` -> 0, ``AA`` -> 26."""
    number = 0
    for letter in letters if isinstance(letters, str) else letters.decode("ascii"):
        number = number * 26 + ord(letter) - 64
    return number - 1


def _sheet_member(archive: zipfile.ZipFile, sheet_index: int) -> str | None:
    """The archive member holding the sheet, in the workbook's order of sheets."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    sheets = [sheet.get(f"{_REL_NS}id") for sheet in workbook.iter(f"{_MAIN_NS}sheet")]
    if not 0 <= sheet_index < len(sheets):
        return None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in relations.iter(f"{_PKG_REL_NS}Relationship")}
    target = targets.get(sheets[sheet_index])
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _xlsx_error_cells(data: bytes, sheet_index: int) -> ErrorCells | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = _sheet_member(archive, sheet_index)
        if member is None:
            return None
        cells: ErrorCells = {}
        with archive.open(member) as xml:
            carry = b""
            while chunk := xml.read(_XML_CHUNK):
                buffer = carry + chunk
                # Keep the last cell, which may be cut by the chunk's end, for the next round.
                starts = [match.start() for match in _CELL_START.finditer(buffer, max(len(buffer) - 65536, 0))]
                cut = starts[-1] if starts else max(len(buffer) - 65536, 0)
                if _ERROR_FLAG.search(buffer, 0, cut):
                    for match in _ERROR_CELL.finditer(buffer, 0, cut):
                        value = _VALUE.search(match.group(3))
                        if value is not None:
                            text = value.group(1).decode("utf-8")
                            cells[(int(match.group(2)) - 1, column_index(match.group(1)))] = text
                carry = buffer[cut:]
            for match in _ERROR_CELL.finditer(carry):
                value = _VALUE.search(match.group(3))
                if value is not None:
                    cells[(int(match.group(2)) - 1, column_index(match.group(1)))] = value.group(1).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, UnicodeDecodeError):
        return None  # fastexcel read the sheet; what it cannot tell us is left as it read it
    return cells or None


def _xls_error_cells(data: bytes, sheet_index: int) -> ErrorCells | None:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        sheet = book.sheet_by_index(sheet_index)
    except Exception:  # noqa: BLE001 - xlrd raises many kinds; fastexcel already read the sheet
        return None
    cells: ErrorCells = {}
    for row in range(sheet.nrows):
        for column, kind in enumerate(sheet.row_types(row)):
            if kind == xlrd.XL_CELL_ERROR:
                cells[(row, column)] = _XLRD_ERRORS.get(sheet.cell_value(row, column), "#VALUE!")
    return cells or None
