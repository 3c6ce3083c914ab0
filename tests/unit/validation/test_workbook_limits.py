"""Workbooks that would inflate past the limits are refused before they are read."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import ReadError, WorkbookLimits, open_table
from tests.forged_workbooks import SHEET, MiB, lying_workbook, with_big_sheet

ROW = '<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c></row>'


def workbook(path: Path, rows: int = 2) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("data")
    sheet.write_column(0, 0, ["id", *range(1, rows)])
    book.close()
    return path


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    bomb = with_big_sheet(workbook(tmp_path / "plain.xlsx"), tmp_path / "bomb.xlsx", "A1:A300000", 300_000,
                          row=ROW.format(r=1).encode())
    assert bomb.stat().st_size < 200_000  # about 17 MB of XML inside
    with pytest.raises(ReadError, match=r"bomb.xlsx: the workbook inflates to [0-9,]+ bytes of XML; the limit is 1,048,576"):
        open_table(bomb, workbook_limits=WorkbookLimits(max_uncompressed_bytes=1024 * 1024))


def test_a_sheet_spanning_too_many_cells_is_refused(tmp_path: Path) -> None:
    wide = with_big_sheet(workbook(tmp_path / "plain.xlsx"), tmp_path / "wide.xlsx", "A1:XFD1048576", 10_000,
                          row=ROW.format(r=1).encode())
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


def test_an_archive_that_understates_its_sizes_is_refused_by_what_really_inflates(tmp_path: Path) -> None:
    # The sheet declares 1,000 bytes and inflates to 600 MiB: calamine would read all of it.
    forged = lying_workbook(tmp_path / "forged.xlsx")
    assert forged.stat().st_size < 3 * MiB
    assert zipfile.ZipFile(forged).getinfo(SHEET).file_size == 1000
    with pytest.raises(ReadError, match=r"forged.xlsx: part 'xl/worksheets/sheet1.xml' inflates past the 1,000 bytes "
                                        "its zip directory declares: the workbook is damaged or forged"):
        open_table(forged)


def test_the_cap_counts_real_bytes_when_the_directory_tells_the_truth(tmp_path: Path) -> None:
    honest_bomb = lying_workbook(tmp_path / "big.xlsx", inflated_bytes=64 * MiB, declared_bytes=64 * MiB)
    with pytest.raises(ReadError, match=r"big.xlsx: the workbook inflates to [0-9,]+ bytes of XML; the limit is "
                                        "1,048,576"):
        open_table(honest_bomb, workbook_limits=WorkbookLimits(max_uncompressed_bytes=1024 * 1024))


def test_an_archive_whose_parts_disagree_with_its_directory_is_refused(tmp_path: Path) -> None:
    data = bytearray(workbook(tmp_path / "plain.xlsx").read_bytes())
    part = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<H", data, part.header_offset + 8, zipfile.ZIP_BZIP2)  # the local header's method
    forged = tmp_path / "forged.xlsx"
    forged.write_bytes(data)
    with pytest.raises(ReadError, match="forged.xlsx: the workbook is damaged"):
        open_table(forged)
