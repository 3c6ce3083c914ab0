"""Workbooks that would inflate past the limits are refused before they are read."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import ReadError, WorkbookLimits, open_table

ROW = '<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c></row>'


def workbook(path: Path, rows: int = 2) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("data")
    sheet.write_column(0, 0, ["id", *range(1, rows)])
    book.close()
    return path


def with_sheet(source: Path, target: Path, dimension: str, rows: int) -> Path:
    """``source`` with its sheet replaced by ``rows`` rows of XML: small on disk, big inflated."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bomb:
        for part in original.infolist():
            if part.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(part, original.read(part))
                continue
            with bomb.open(part.filename, "w") as sheet:
                sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
                            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                            + f'<dimension ref="{dimension}"/><sheetData>'.encode())
                chunk = "".join(ROW.format(r=1) for _ in range(10_000)).encode()
                for _ in range(rows // 10_000):
                    sheet.write(chunk)
                sheet.write(b"</sheetData></worksheet>")
    return target


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    bomb = with_sheet(workbook(tmp_path / "plain.xlsx"), tmp_path / "bomb.xlsx", "A1:A300000", 300_000)
    assert bomb.stat().st_size < 200_000  # about 17 MB of XML inside
    with pytest.raises(ReadError, match=r"bomb.xlsx: the workbook inflates to [0-9,]+ bytes of XML; the limit is 1,048,576"):
        open_table(bomb, workbook_limits=WorkbookLimits(max_uncompressed_bytes=1024 * 1024))


def test_a_sheet_spanning_too_many_cells_is_refused(tmp_path: Path) -> None:
    wide = with_sheet(workbook(tmp_path / "plain.xlsx"), tmp_path / "wide.xlsx", "A1:XFD1048576", 10_000)
    with pytest.raises(ReadError, match="sheet 'data' spans 17,179,869,184 cells; the limit is 20,000,000"):
        open_table(wide)


def test_the_file_itself_counts_for_xls_and_normal_workbooks_pass(tmp_path: Path) -> None:
    import xlwt

    book = xlwt.Workbook()
    book.add_sheet("data").write(0, 0, "id")
    xls = tmp_path / "old.xls"
    book.save(str(xls))
    with pytest.raises(ReadError, match=r"old.xls: the workbook is [0-9,]+ bytes; the limit is 1,000"):
        open_table(xls, workbook_limits=WorkbookLimits(max_uncompressed_bytes=1000))
    assert open_table(xls).header == ["id"]
    table = open_table(workbook(tmp_path / "ok.xlsx", rows=1000), workbook_limits=WorkbookLimits(max_cells=1000))
    assert table.total_rows == 999


def test_an_archive_that_understates_its_sizes_is_read_only_as_far_as_it_declares(tmp_path: Path) -> None:
    # The limit trusts the sizes the archive declares; that holds because the reader
    # (calamine's zip) stops inflating there too. Forge a sheet declaring 1,000 bytes.
    bomb = with_sheet(workbook(tmp_path / "plain.xlsx"), tmp_path / "bomb.xlsx", "A1:A2", 300_000)
    data = bytearray(bomb.read_bytes())
    part = zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, part.header_offset + 22, 1000)  # the local header's size
    central = data.find(b"PK\x01\x02", part.header_offset)
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_length] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, central + 24, 1000)  # the central directory's size
        central = data.find(b"PK\x01\x02", central + 4)
    forged = tmp_path / "forged.xlsx"
    forged.write_bytes(data)
    assert zipfile.ZipFile(forged).getinfo("xl/worksheets/sheet1.xml").file_size == 1000
    try:
        rows = open_table(forged).total_rows
    except ReadError:
        rows = 0
    assert rows is not None and rows < 100
