"""What fastexcel does not tell about a workbook: error cells, full floats, and why it cannot be opened.

fastexcel (calamine) reads an error cell (``#DIV/0!``, ``#N/A``...) as an
empty cell, which a nullable column would then accept, and writes a float's
text rounded to 9 decimals. The typing contract says an error cell is its
error text and a number the double the file stores, so those cells are found
here. In an XLSX, the sheet's XML holds them as ``<c r="C3" t="e">...<v>#DIV/0!</v></c>``
and ``<c r="A4"><v>68.66499999999999</v></c>``: one streaming pass over the
XML, parsed only around ``t="e"`` and values with 10 or more decimals or an
exponent (no other value can lose digits). In an XLS, xlrd reads the error
cells, when a cheap look at the bytes shows an error record may be there at all.

Durations and times are found here too (see :mod:`.timetext`):
fastexcel writes a number under an elapsed-time format (``[h]:mm:ss``) as a
date-time and reads an ODS time cell as empty. An XLSX's styles say which cell
formats are elapsed times, and the cells using them are found in the same pass;
an ODS's time cells (and its date cells, whose text fastexcel writes as a text
cell's) are read from its ``content.xml``; an XLS's durations, by xlrd with
its formatting, when its sheet holds date-times at all.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

from airflow_provider_typecheck.validation import timetext

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted XLSX is an OLE container with these streams, named in UTF-16.
_ENCRYPTION_STREAMS = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
_XML_CHUNK = 16 * 1024 * 1024
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_REFERENCE = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')
# Found at memchr speed, or nearly (a regex with a leading literal); only the cells
# around a hit are parsed. A value with 10 or more decimals, or a negative exponent
# (1E-12, which fastexcel shows as 0), may lose digits; no other value can.
_ERROR_FLAG = b't="e"'
_LONG_VALUE = re.compile(rb"<v>([-+]?(?:[0-9]*\.[0-9]{10,}(?:[eE][-+]?[0-9]+)?|[0-9.]+[eE]-[0-9]+))</v>")
# A BIFF FORMULA record whose cached result is an error (result type 2, then 0xFFFF),
# or a BOOLERR record: a false hit only costs reading the cells with xlrd.
_XLS_ERROR_RECORD = re.compile(rb"\x06\x00..(?:.{6})\x02\x00.{4}\xff\xff|\x05\x02\x08\x00", re.DOTALL)
# What an XLS holding an elapsed-time format shows in its bytes: a FORMAT record (0x041E: size,
# format number, then the text's length, a flag for UTF-16, the text) whose text is one, or a cell
# style (XF record, 0x00E0) using built-in format 46 ([h]:mm:ss), whose text is not stored. A false
# hit costs reading the workbook's globals with xlrd (a second for 60,000 strings).
_XLS_FORMAT_RECORD = re.compile(rb"\x1e\x04..(?:..)(..)([\x00\x01])", re.DOTALL)
_XLS_FORMAT_46 = re.compile(rb"\xe0\x00\x14\x00..\x2e\x00", re.DOTALL)
_XLRD_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
                0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}
# An elapsed-time part of a number format's first section: [h], [hh], [m], [mm], [s], [ss] (as openpyxl
# reads formats too). Built-in format 46 is [h]:mm:ss.
_ELAPSED = re.compile(r"\[(?:hh?|mm?|ss?)\]", re.IGNORECASE)
_BUILTIN_ELAPSED = {46}
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


@dataclass
class SheetCells:
    """Cells of one sheet fastexcel reads otherwise, keyed ``(row, column)``, both 0-based from A1."""

    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    numbers: dict[tuple[int, int], float] = field(default_factory=dict)  # values that may lose digits
    numbers_known: bool = False  # whether ``numbers`` holds every such value (else read the floats again)
    # Durations, and ODS times and dates, as timetext writes them: they replace fastexcel's text.
    time_texts: dict[tuple[int, int], str] = field(default_factory=dict)
    # The date fastexcel writes for a serial under 1 (a time of day): by the workbook's date system
    # (an XLS's is looked up only if needed, see xls_date_1904); None for ODS, whose dates are read
    # from its XML instead.
    zero_date: str | None = timetext.ZERO_DATE_1900


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


def sheet_cells(data: bytes, sheet_index: int) -> SheetCells:
    """The error cells of the sheet at ``sheet_index``, and, for an XLSX, its numbers that may lose digits."""
    if data[:4] == ZIP_MAGIC:
        found = _xlsx_cells(data, sheet_index)
        if found is not None:
            return found
    if data[:8] == OLE_MAGIC and _XLS_ERROR_RECORD.search(data):
        return SheetCells(errors=_xls_error_cells(data, sheet_index))
    return SheetCells()


def column_index(letters: bytes | str) -> int:
    """``A`` -> 0, ``AA`` -> 26."""
    number = 0
    for letter in letters if isinstance(letters, str) else letters.decode("ascii"):
        number = number * 26 + ord(letter) - 64
    return number - 1


def sheet_parts(archive: zipfile.ZipFile) -> list[tuple[str, str | None]]:
    """Each sheet's name, as the workbook's tabs show it, and the archive member holding it, in the workbook's order."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return []
    targets = {rel.get("Id"): rel.get("Target", "") for rel in relations.iter(f"{_PKG_REL_NS}Relationship")}
    parts = []
    for sheet in workbook.iter(f"{_MAIN_NS}sheet"):
        target = targets.get(sheet.get(f"{_REL_NS}id"))
        member = (target.lstrip("/") if target.startswith("/") else f"xl/{target}") if target else None
        parts.append((sheet.get("name", ""), member))
    return parts


def _sheet_member(archive: zipfile.ZipFile, sheet_index: int) -> str | None:
    """The archive member holding the sheet, in the workbook's order of sheets."""
    parts = sheet_parts(archive)
    return parts[sheet_index][1] if 0 <= sheet_index < len(parts) else None


def _elapsed_styles(archive: zipfile.ZipFile) -> list[int]:
    """The cell styles (indexes into ``cellXfs``) whose number format is an elapsed time (``[h]:mm:ss``)."""
    try:
        styles = ElementTree.fromstring(archive.read("xl/styles.xml"))
    except (KeyError, ElementTree.ParseError):
        return []
    codes = {int(fmt.get("numFmtId", "-1")): fmt.get("formatCode", "") for fmt in styles.iter(f"{_MAIN_NS}numFmt")}
    elapsed = {number for number, code in codes.items() if is_elapsed_format(code)}
    elapsed |= _BUILTIN_ELAPSED - codes.keys()
    cell_xfs = styles.find(f"{_MAIN_NS}cellXfs")
    return [index for index, xf in enumerate(cell_xfs if cell_xfs is not None else [])
            if int(xf.get("numFmtId", "0")) in elapsed]


def is_elapsed_format(code: str) -> bool:
    """Whether an Excel number format shows elapsed time (``[h]:mm:ss``, ``[mm]:ss``) for positive values."""
    return _ELAPSED.search(re.sub(r'"[^"]*"', "", code).split(";")[0]) is not None


def _is_date_1904(archive: zipfile.ZipFile) -> bool:
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    except (KeyError, ElementTree.ParseError):
        return False
    properties = workbook.find(f"{_MAIN_NS}workbookPr")
    return properties is not None and properties.get("date1904", "").lower() in ("1", "true")


def _xlsx_cells(data: bytes, sheet_index: int) -> SheetCells | None:
    """None when the sheet's XML cannot be found or read (a .xlsb, .ods...)."""
    cells = SheetCells(numbers_known=True)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = _sheet_member(archive, sheet_index)
        if member is None:
            return _ods_cells(archive, sheet_index)
        if _is_date_1904(archive):
            cells.zero_date = timetext.ZERO_DATE_1904
        styles = _elapsed_styles(archive)
        elapsed = re.compile(rb'\bs="(?:' + "|".join(map(str, styles)).encode() + rb')"') if styles else None
        with archive.open(member) as xml:
            carry = b""
            while chunk := xml.read(_XML_CHUNK):
                buffer = carry + chunk
                # Keep the last cell, which may be cut by the chunk's end, for the next round.
                starts = [match.start() for match in _CELL_START.finditer(buffer, max(len(buffer) - 65536, 0))]
                cut = starts[-1] if starts else max(len(buffer) - 65536, 0)
                _collect(buffer, cut, cells, elapsed)
                carry = buffer[cut:]
            _collect(carry, len(carry), cells, elapsed)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, UnicodeDecodeError, ValueError, ElementTree.ParseError):
        return None
    return cells


def _collect(buffer: bytes, end: int, cells: SheetCells, elapsed: re.Pattern[bytes] | None) -> None:
    """The error cells, long numbers and durations (cells styled ``elapsed``) among the complete
    cells of ``buffer[:end]``."""
    position = buffer.find(_ERROR_FLAG, 0, end)
    while position >= 0:
        cell = _enclosing_cell(buffer, position)
        if cell is not None and (value := _VALUE.search(buffer, cell[2], cell[3])) is not None:
            cells.errors[cell[0]] = value.group(1).decode("utf-8")
        position = buffer.find(_ERROR_FLAG, position + 1, end)
    for match in _LONG_VALUE.finditer(buffer, 0, end):
        cell = _enclosing_cell(buffer, match.start())
        if cell is not None and cell[1] in (None, b"n"):
            cells.numbers[cell[0]] = float(match.group(1))
    for match in elapsed.finditer(buffer, 0, end) if elapsed is not None else ():
        cell = _enclosing_cell(buffer, match.start())
        if cell is not None and cell[1] in (None, b"n") and (value := _VALUE.search(buffer, cell[2], cell[3])):
            cells.time_texts[cell[0]] = timetext.days_text(float(value.group(1)))


def _enclosing_cell(buffer: bytes, position: int) -> tuple[tuple[int, int], bytes | None, int, int] | None:
    """The ``c`` element around ``position``: (row, column), its ``t`` attribute, where its content starts and ends."""
    start = position
    while (start := buffer.rfind(b"<", 0, start)) >= 0 and not _CELL_START.match(buffer, start):
        pass
    if start < 0:
        return None
    tag_end = buffer.find(b">", start)
    close = _CELL_END.search(buffer, tag_end)
    where = _REFERENCE.search(buffer, start, tag_end)
    if close is None or where is None or close.start() < position:
        return None
    kind = _CELL_TYPE.search(buffer, start, tag_end)
    cell = (int(where.group(2)) - 1, column_index(where.group(1)))
    return cell, kind.group(1) if kind else None, tag_end + 1, close.start()


def _xls_error_cells(data: bytes, sheet_index: int) -> dict[tuple[int, int], str]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        sheet = book.sheet_by_index(sheet_index)
    except Exception:  # noqa: BLE001 - xlrd raises many kinds; fastexcel already read the sheet
        return {}
    cells: dict[tuple[int, int], str] = {}
    for row in range(sheet.nrows):
        for column, kind in enumerate(sheet.row_types(row)):
            if kind == xlrd.XL_CELL_ERROR:
                cells[(row, column)] = _XLRD_ERRORS.get(sheet.cell_value(row, column), "#VALUE!")
    return cells


_ODS_TIME_FLAG = b'value-type="time"'
# The ODS cells whose fastexcel text is not the contract's: a time (read as empty), a date-time at
# midnight or with a fraction of a second. A date, or a date-time to the second, is written right.
_ODS_DATETIME_FLAG = re.compile(rb'date-value="[0-9-]+T(?:00:00:00|[0-9:]+\.)')
_ODS_TYPED = re.compile(rb'time-value="|' + _ODS_DATETIME_FLAG.pattern)
_ODS_TIME_VALUE = re.compile(rb'time-value="([^"]*)"')
_ODS_DATE_VALUE = re.compile(rb'date-value="([^"]*)"')
_SHEET_HEAD_BYTES = 64 * 1024


def _ods_cells(archive: zipfile.ZipFile, sheet_index: int) -> SheetCells | None:
    """An ODS sheet's time cells (fastexcel reads them as empty) and date-time cells (whose text
    fastexcel writes like a text cell's), as :mod:`.timetext` writes them; None when the archive is no ODS.

    ``content.xml`` is searched, not parsed: rows are found by their tags (counting their
    repeats), and in a row holding such a cell its column is the count of cell tags before it
    (counting theirs). A parser, or a Python step per cell, took five times fastexcel's own read.
    """
    try:
        with archive.open("content.xml") as xml:
            content = xml.read()
    except KeyError:
        return None
    cells = SheetCells(zero_date=None)
    if _ODS_TIME_FLAG not in content and _ODS_DATETIME_FLAG.search(content) is None:
        return cells
    table = _ods_prefix(content, b"urn:oasis:names:tc:opendocument:xmlns:table:1.0", b"table")
    starts = [found.start() for found in re.finditer(b"<" + table + rb":table[\s>]", content)]
    if not 0 <= sheet_index < len(starts):
        return cells
    first = starts[sheet_index]
    last = content.find(b"</" + table + b":table>", first)
    last = len(content) if last < 0 else last
    row_tag = re.compile(b"<" + table + rb":table-row[\s>/]")
    rows = [found.start() for found in row_tag.finditer(content, first, last)]
    repeated_rows = re.compile(table + rb':number-rows-repeated="([0-9]+)"')
    repeated_columns = re.compile(table + rb':number-columns-repeated="([0-9]+)"')
    cell_tags = (b"<" + table + b":table-cell", b"<" + table + b":covered-table-cell")
    row = 0
    for position, row_start in enumerate(rows):
        row_end = rows[position + 1] if position + 1 < len(rows) else last
        head_end = content.find(b">", row_start, row_end)
        found = repeated_rows.search(content, row_start, head_end)
        for hit in _ODS_TYPED.finditer(content, head_end, row_end):
            cell_start = max(content.rfind(tag, head_end, hit.start()) for tag in cell_tags)
            tag_end = content.find(b">", hit.start(), row_end)
            text = _ods_time_or_date(content[cell_start:tag_end]) if cell_start >= 0 and tag_end >= 0 else None
            if text is None:
                continue
            column = sum(content.count(tag, head_end, cell_start) for tag in cell_tags)
            if b"columns-repeated" in content[head_end:cell_start]:
                column += sum(int(more.group(1)) - 1 for more in repeated_columns.finditer(content, head_end, cell_start))
            own = repeated_columns.search(content, cell_start, tag_end)
            for offset in range(min(int(own.group(1)), 16_384) if own else 1):
                cells.time_texts[(row, column + offset)] = text
        row += int(found.group(1)) if found else 1
    return cells


def _ods_prefix(content: bytes, namespace: bytes, default: bytes) -> bytes:
    """The prefix ``content.xml`` gives a namespace (``table``, ``office`` as LibreOffice writes them)."""
    found = re.search(rb'xmlns:([\w.-]+)="' + re.escape(namespace) + rb'"', content[:_SHEET_HEAD_BYTES])
    return re.escape(found.group(1)) if found else default


@functools.lru_cache(maxsize=4096)  # a column of times or dates repeats its values
def _ods_time_or_date(attributes: bytes) -> str | None:
    """A time or date-time cell's text, from its start tag's attributes (``office:time-value``...)."""
    time = _ODS_TIME_VALUE.search(attributes)
    if time is not None and _ODS_TIME_FLAG in attributes:
        value = time.group(1).decode("ascii", errors="replace")
        return timetext.iso_duration_text(value) or value
    date = _ODS_DATE_VALUE.search(attributes)
    if date is not None and b'value-type="date"' in attributes:
        value = date.group(1).decode("ascii", errors="replace")
        return timetext.iso_datetime_text(value) or value
    return None


def xls_date_1904(data: bytes) -> bool:
    """Whether an XLS workbook counts its dates from 1904."""
    import xlrd

    try:
        return xlrd.open_workbook(file_contents=data, on_demand=True).datemode == 1
    except Exception:  # noqa: BLE001 - fastexcel read it; xlrd may not
        return False


def _xls_may_hold_elapsed(data: bytes) -> bool:
    for record in _XLS_FORMAT_RECORD.finditer(data):
        length, wide = int.from_bytes(record.group(1), "little"), record.group(2) == b"\x01"
        text = data[record.end():record.end() + length * (2 if wide else 1)]
        if is_elapsed_format(text.decode("utf-16-le" if wide else "latin-1", errors="replace")):
            return True
    return _XLS_FORMAT_46.search(data) is not None


def xls_durations(data: bytes, sheet_index: int) -> dict[tuple[int, int], str]:
    """The cells of an XLS sheet under an elapsed-time format, written as :mod:`.timetext` says."""
    import xlrd

    if not _xls_may_hold_elapsed(data):
        return {}
    try:
        # on_demand: the workbook's globals (formats and cell styles) only; the sheet, only if some
        # style is an elapsed time (reading a 60,000-row sheet with its formatting takes seconds).
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
        elapsed = {index for index, xf in enumerate(book.xf_list)
                   if (fmt := book.format_map.get(xf.format_key)) is not None and is_elapsed_format(fmt.format_str)}
        if not elapsed:
            return {}
        sheet = book.sheet_by_index(sheet_index)
    except Exception:  # noqa: BLE001 - xlrd raises many kinds; fastexcel already read the sheet
        return {}
    found = {}
    for row in range(sheet.nrows):
        for column, kind in enumerate(sheet.row_types(row)):
            if kind in (xlrd.XL_CELL_DATE, xlrd.XL_CELL_NUMBER) and sheet.cell_xf_index(row, column) in elapsed:
                found[(row, column)] = timetext.days_text(sheet.cell_value(row, column))
    return found
