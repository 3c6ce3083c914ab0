"""An independent reading of workbooks under the typing contract, for comparing verdicts.

openpyxl (XLSX), xlrd (XLS) and the ODS's own XML give each cell's value; the
contract's rule 1 (docs/contract.md) turns it into text, written here from the
contract's words and not from the readers': dates ``YYYY-MM-DD``, date-times
``YYYY-MM-DDTHH:MM:SS[.fff]``, times of day and durations ``HH:MM:SS[.fff]``,
numbers as their shortest round-trip text, booleans ``true``/``false``.
The header is named as the contract's header rule says. python-jsonschema then
judges each row (tests/oracle.py).
"""

from __future__ import annotations

import datetime
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import openpyxl
from openpyxl.utils import get_column_letter
import xlrd

from tests.oracle import reference_errors

Rows = dict[int, list[str | None]]  # sheet row number -> the row's texts, from column A

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def clock(milliseconds: int) -> str:
    """A time of day or a duration: HH:MM:SS, more hour digits when needed, .fff when not whole seconds."""
    sign = "-" if milliseconds < 0 else ""
    milliseconds = abs(milliseconds)
    hours = milliseconds // 3_600_000
    minutes = milliseconds // 60_000 % 60
    seconds = milliseconds // 1000 % 60
    fraction = milliseconds % 1000
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}" + (f".{fraction:03d}" if fraction else "")


def seen(value: Any) -> str | None:
    """The text rule 1 gives a value as openpyxl, xlrd or the ODS reader below hands it over."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e300 else repr(float(value))
    if isinstance(value, datetime.datetime):
        millis = value.microsecond // 1000
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis:03d}" if millis else "")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return clock(((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000)
    if isinstance(value, datetime.timedelta):
        return clock(round(value.total_seconds() * 1000))
    return str(value)


def xlsx_rows(path: Path, sheet: int = 0, trimmed: bool = False) -> Rows:
    """openpyxl's cached values; ``trimmed``: text cells lose surrounding whitespace (stored without
    ``xml:space="preserve"``, as the contract says Excel reads them)."""
    worksheet = openpyxl.load_workbook(path, data_only=True).worksheets[sheet]
    rows: Rows = {}
    for row in worksheet.iter_rows(min_row=1, min_col=1):
        texts = []
        for cell in row:
            value = cell.value.strip(" \t\r\n") if trimmed and isinstance(cell.value, str) else cell.value
            texts.append(seen(value))
        rows[row[0].row] = texts
    return rows


def xls_rows(path: Path, sheet: int = 0) -> Rows:
    book = xlrd.open_workbook(path, formatting_info=True)
    worksheet = book.sheet_by_index(sheet)
    rows: Rows = {}
    for index in range(worksheet.nrows):
        texts = []
        for column, cell in enumerate(worksheet.row(index)):
            if cell.ctype == xlrd.XL_CELL_ERROR:
                texts.append(xlrd.error_text_from_code[cell.value])
            elif cell.ctype == xlrd.XL_CELL_DATE:
                code = book.format_map[book.xf_list[worksheet.cell_xf_index(index, column)].format_key].format_str
                if re.search(r"\[(hh?|mm?|ss?)\]", code.split(";")[0], re.IGNORECASE):
                    texts.append(clock(round(cell.value * 86_400_000)))
                elif cell.value < 1:
                    texts.append(clock(round(cell.value * 86_400_000)))
                else:
                    texts.append(seen(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)))
            else:
                texts.append(seen(cell.value))
        rows[index + 1] = texts
    return rows


def ods_rows(path: Path, sheet: int = 0) -> Rows:
    """The cells of an ODS sheet from its content.xml, by value type."""
    root = ElementTree.fromstring(zipfile.ZipFile(path).read("content.xml"))
    table = list(root.iter(f"{_TABLE}table"))[sheet]
    rows: Rows = {}
    number = 0
    for row in table.iter(f"{_TABLE}table-row"):
        texts: list[str | None] = []
        for cell in row:
            if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                continue
            texts += [_ods_text(cell)] * int(cell.get(f"{_TABLE}number-columns-repeated", "1"))
        for _ in range(int(row.get(f"{_TABLE}number-rows-repeated", "1"))):
            number += 1
            rows[number] = list(texts)
    return rows


def _ods_text(cell: ElementTree.Element) -> str | None:
    kind = cell.get(f"{_OFFICE}value-type")
    if kind in ("float", "percentage", "currency"):
        return seen(float(cell.get(f"{_OFFICE}value", "")))
    if kind == "date":
        value = cell.get(f"{_OFFICE}date-value", "")
        return seen(datetime.datetime.fromisoformat(value) if "T" in value else datetime.date.fromisoformat(value))
    if kind == "time":
        found = re.fullmatch(r"PT(\d+)H(\d+)M(\d+(?:\.\d+)?)S", cell.get(f"{_OFFICE}time-value", ""))
        assert found, "the test's ODS files write times as PTnHnMnS"
        hours, minutes, seconds = found.groups()
        return clock(round(((int(hours) * 60 + int(minutes)) * 60 + float(seconds)) * 1000))
    if kind == "boolean":
        return seen(cell.get(f"{_OFFICE}boolean-value") == "true")
    paragraphs = ["".join(p.itertext()) for p in cell.iter(f"{_TEXT}p")]
    return seen("\n".join(paragraphs)) if paragraphs else None


def header_names(cells: list[str | None], first_column: int = 0) -> list[str]:
    """The contract's header rule: a blank cell is named by its column letter; the n-th repeat of a
    name is ``name.n`` (n counting up past any name already in the header)."""
    base = [get_column_letter(first_column + i + 1) if cell is None or cell.strip() == "" else cell for i, cell in enumerate(cells)]
    names: list[str] = []
    for name in base:
        if name not in names:
            names.append(name)
            continue
        suffix = 1
        while f"{name}.{suffix}" in base or f"{name}.{suffix}" in names:
            suffix += 1
        names.append(f"{name}.{suffix}")
    return names


def block(rows: Rows, header_at: int, *, last_row: int | None = None, columns: range | None = None,
          ) -> tuple[list[str], dict[int, list[str | None]]]:
    """The header names and data rows of a block of the sheet: rows below ``header_at`` up to
    ``last_row``, cells in ``columns`` (0-based, from A). Short rows are padded with empty cells."""
    width = max((len(texts) for texts in rows.values()), default=0)
    columns = columns if columns is not None else range(width)
    cut = {number: [(texts[c] if c < len(texts) else None) for c in columns] for number, texts in rows.items()}
    header = header_names(cut[header_at], columns.start)
    last = max(rows) if last_row is None else last_row
    return header, {number: cut[number] for number in sorted(cut) if header_at < number <= last}


def reference(header: list[str], rows: dict[int, list[str | None]], schema: dict,
              ) -> tuple[int, dict[str, dict[str, int]], set[int]]:
    """python-jsonschema's rows, counts and invalid row numbers."""
    objects = [dict(zip(header, texts, strict=True)) for texts in rows.values()]
    counts: dict[str, Counter[str]] = {}
    invalid = set()
    for number, errors in zip(rows, reference_errors(objects, schema), strict=True):
        if errors:
            invalid.add(number)
        for column, keyword in errors:
            counts.setdefault(column if column is not None else "", Counter())[keyword] += 1
    return len(objects), {column: dict(keywords) for column, keywords in counts.items()}, invalid


OdsCell = tuple[str, str, str] | None  # (value type, value, shown text), or an empty cell


def write_ods(path: Path, rows: list[list[OdsCell]], name: str = "Sheet1", body: str | None = None) -> Path:
    """A minimal ODS (the zip and XML LibreOffice writes, nothing more): typed cells, as given,
    or the table's XML ``body`` itself."""
    def cell(given: OdsCell) -> str:
        if given is None:
            return "<table:table-cell/>"
        kind, value, shown = given
        attribute = {"float": "value", "percentage": "value", "currency": "value", "date": "date-value",
                     "time": "time-value", "boolean": "boolean-value"}.get(kind)
        typed = f' office:{attribute}="{value}"' if attribute else ""
        return (f'<table:table-cell office:value-type="{kind}"{typed}><text:p>{escape(shown)}</text:p>'
                "</table:table-cell>")

    if body is None:
        body = "".join("<table:table-row>" + "".join(map(cell, row)) + "</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
        f'<office:spreadsheet><table:table table:name="{name}">{body}</table:table></office:spreadsheet>'
        "</office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return path
