"""What a finished task serves: its report naming the file as uploaded, and invalid-row CSV
downloads that a spreadsheet program opens as data, never as formulas.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel, LibreOffice and Google Sheets: ``=HYPERLINK(...)``
or ``=cmd|' /C calc'!A0`` in an uploaded file would run on the reader's
machine. Downloads prefix such a cell with ``'`` (shown as text, not as part of
the value), unless it is a plain number (``-5``, ``+1.5e3``), which no program
reads as a formula. The stored file is untouched: ``raw`` serves it byte for byte.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CHUNK_BYTES = 1024 * 1024


def neutralise_cell(cell: str) -> str:
    """``cell``, prefixed with ``'`` when a spreadsheet program would take it for a formula."""
    if cell.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def formula_safe_csv(handle: IO[bytes]) -> Iterator[bytes]:
    """The UTF-8 CSV in ``handle``, re-written row by row with every cell neutralised; closes ``handle``."""
    with handle:
        rows = csv.reader(io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline=""))
        buffer = io.StringIO()
        # RFC 4180's CRLF: the writer quotes a field holding any character of the line ending,
        # so a lone CR in a cell is quoted too (with "\n" alone it would end the row).
        writer = csv.writer(buffer, lineterminator="\r\n")
        for row in rows:
            writer.writerow([neutralise_cell(cell) for cell in row])
            if buffer.tell() >= _CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()


def public_report(report: dict[str, Any], file_name: str) -> dict[str, Any]:
    """The stored report as served: the file named as uploaded (reports written before
    workers did so held the file store's URI)."""
    served = {key: value for key, value in report.items() if key != "file_uri"}
    served["file"] = file_name
    return served
