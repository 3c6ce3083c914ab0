"""Workbooks as a person sees them: error cells, long floats, date headers, the sheet's own row
numbers, title rows, and unreadable workbooks.

Each verdict is compared with python-jsonschema on the values openpyxl (XLSX) or
xlrd (XLS) read for the same cells, turned into text as the typing contract says.
"""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
import xlwt

from airflow_provider_typecheck.validation import ReadError, open_table, validate_file
from tests import sheets_reference
from tests.sheets_reference import xls_rows, xlsx_rows

LONG_FLOATS = [68.66499999999999, 72.96499999999999, 3.0000000001, 0.1000000001]


def reference(rows: dict[int, list[str | None]], header_at: int, schema: dict) -> tuple[dict, set[int]]:
    """python-jsonschema's counts and invalid row numbers for the rows under the header."""
    _, counts, invalid = sheets_reference.reference(*sheets_reference.block(rows, header_at), schema)
    return counts, invalid


def assert_agrees(path: Path, rows: dict[int, list[str | None]], header_at: int, schema: dict,
                  **options: Any) -> None:
    report = validate_file(path, schema, max_errors=10_000, **options)
    counts, invalid = reference(rows, header_at, schema)
    assert report.errors_by_column == counts
    assert {error.row for error in report.errors} == invalid
    assert report.invalid_rows == len(invalid)


@pytest.fixture
def error_cells_xlsx(tmp_path: Path) -> Path:
    path = tmp_path / "errors.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["name", "score"])
    sheet.write_formula(0, 2, "=1/0", None, "#DIV/0!")  # a header that is an error cell
    for row, (name, formula, error) in enumerate(
        [("a", "=NA()", "#N/A"), ("b", "=1/0", "#DIV/0!"), ("c", '="x"+1', "#VALUE!")], start=1
    ):
        sheet.write(row, 0, name)
        sheet.write_formula(row, 1, formula, None, error)
        sheet.write(row, 2, row)
    sheet.write_row(4, 0, ["d", 5.5, 4])
    book.close()
    return path


def test_xlsx_error_cells_are_their_text_in_data_and_header(error_cells_xlsx: Path) -> None:
    table = open_table(error_cells_xlsx)
    assert table.header == ["name", "score", "#DIV/0!"]
    rows = [row for batch in table.batches() for row in batch.rows()]
    assert [row[1] for row in rows] == ["#N/A", "#DIV/0!", "#VALUE!", "5.5"]
    schema = {"type": "object", "properties": {"score": {"type": ["number", "null"]},
                                               "#DIV/0!": {"type": "integer"}}, "required": ["#DIV/0!"]}
    assert_agrees(error_cells_xlsx, xlsx_rows(error_cells_xlsx), 1, schema)


def test_xls_error_cells_are_their_text(tmp_path: Path) -> None:
    path = tmp_path / "errors.xls"
    book = xlwt.Workbook()
    sheet = book.add_sheet("s")
    sheet.write(0, 0, "name")
    sheet.write(0, 1, "score")
    for row, code in enumerate([0x2A, 0x07, 0x17], start=1):  # #N/A, #DIV/0!, #REF!
        sheet.write(row, 0, f"n{row}")
        sheet.row(row).set_cell_error(1, code)
    sheet.write(4, 0, "n4")
    sheet.write(4, 1, 7)
    book.save(path)
    rows = [row for batch in open_table(path).batches() for row in batch.rows()]
    assert [row[1] for row in rows] == ["#N/A", "#DIV/0!", "#REF!", "7"]
    assert_agrees(path, xls_rows(path), 1, {"properties": {"score": {"type": ["integer", "null"]}}})


@pytest.mark.parametrize("suffix", ["xlsx", "xls"])
def test_floats_keep_every_digit_of_the_stored_double(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"floats.{suffix}"
    values = [*LONG_FLOATS, 68.665, 0.30, 2.5, 1.5e-12]
    if suffix == "xlsx":
        book = xlsxwriter.Workbook(path)
        sheet = book.add_worksheet()
        sheet.write(0, 0, "v")
        for row, value in enumerate(values, start=1):
            sheet.write_number(row, 0, value)
        book.close()
        rows = xlsx_rows(path)
    else:
        book = xlwt.Workbook()
        sheet = book.add_sheet("s")
        sheet.write(0, 0, "v")
        for row, value in enumerate(values, start=1):
            sheet.write(row, 0, value)
        book.save(path)
        rows = xls_rows(path)
    texts = [row[0] for batch in open_table(path).batches() for row in batch.rows()]
    assert texts == ["68.66499999999999", "72.96499999999999", "3.0000000001", "0.1000000001", "68.665", "0.3",
                     "2.5", "1.5e-12"]
    # Each keyword whose verdict the lost digits would change.
    for subschema in ({"enum": [68.665, 72.965, 3, 0.1, 0.3, 2.5, 0]}, {"exclusiveMaximum": 68.665},
                      {"multipleOf": 0.5}, {"type": "integer"}):
        assert_agrees(path, rows, 1, {"properties": {"v": {"type": "number", **subschema}}})


def test_xlsx_text_that_looks_like_a_number_stays_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "text.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_string(0, 0, "code")
    sheet.write_string(1, 0, "0.30")
    sheet.write_string(2, 0, "007")
    sheet.write_number(3, 0, 3.0000000001)
    sheet.write_formula(4, 0, '="1.00000000001"', None, "1.00000000001")  # a formula's text result
    book.close()
    texts = [row[0] for batch in open_table(path).batches() for row in batch.rows()]
    assert texts == ["0.30", "007", "3.0000000001", "1.00000000001"]


def test_date_header_cells_follow_the_data_rules(tmp_path: Path) -> None:
    path = tmp_path / "dates.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write(0, 0, "region")
    sheet.write_datetime(0, 1, datetime.datetime(2021, 1, 1), day)
    sheet.write_datetime(0, 2, datetime.datetime(2021, 2, 1, 9, 30), stamp)
    sheet.write_row(1, 0, ["north", 10, "x"])
    sheet.write_row(2, 0, ["south", "n/a", 3])
    book.close()
    assert open_table(path).header == ["region", "2021-01-01", "2021-02-01T09:30:00"]
    schema = {"properties": {"2021-01-01": {"type": "integer"}, "2021-02-01T09:30:00": {"type": "integer"}},
              "required": ["2021-01-01"]}
    assert_agrees(path, xlsx_rows(path), 1, schema)


@pytest.mark.parametrize("suffix", ["xlsx", "xls"])
def test_leading_blank_rows_keep_the_sheets_row_numbers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"late.{suffix}"
    data = [["id", "age"], [1, 30], [2, 200], [3, 40], [4, -1]]
    if suffix == "xlsx":
        book = xlsxwriter.Workbook(path)
        sheet = book.add_worksheet()
        for offset, row in enumerate(data):
            sheet.write_row(5 + offset, 1, row)  # header at B6: blank rows and a blank column before it
        book.close()
        rows = xlsx_rows(path)
    else:
        book = xlwt.Workbook()
        sheet = book.add_sheet("s")
        for offset, row in enumerate(data):
            for column, value in enumerate(row):
                sheet.write(5 + offset, 1 + column, value)
        book.save(path)
        rows = xls_rows(path)
    schema = {"properties": {"age": {"type": "integer", "minimum": 0, "maximum": 150}}}
    report = validate_file(path, schema)
    assert [error.row for error in report.errors] == [8, 10]  # the rows a person sees in Excel
    # Column A is blank: the reference's rows start at B, as the table's do.
    assert_agrees(path, {number: texts[1:] for number, texts in rows.items() if number >= 6}, 6, schema)


def test_title_rows_above_the_header_with_header_row(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write(0, 0, "Quarterly sales report")
    sheet.write(1, 0, "Generated 2026-12-01")
    sheet.write_row(3, 0, ["region", "sales"])
    sheet.write_row(4, 0, ["north", 10])
    sheet.write_row(5, 0, ["south", "lots"])
    book.close()
    table = open_table(path, header_row=4)
    assert table.header == ["region", "sales"]
    assert table.first_row == 5
    schema = {"properties": {"sales": {"type": "integer"}}}
    report = validate_file(path, schema, header_row=4)
    assert [error.row for error in report.errors] == [6]
    assert_agrees(path, xlsx_rows(path), 4, schema, header_row=4)
    with pytest.raises(ReadError, match="no header at row 3"):
        open_table(path, header_row=3)


def encrypted_workbook() -> bytes:
    """An OLE container as Excel writes a password-protected XLSX: it names EncryptionInfo."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptionInfo".encode("utf-16-le") + bytes(64)


def test_unreadable_workbooks_get_one_clear_line(tmp_path: Path, error_cells_xlsx: Path) -> None:
    whole = error_cells_xlsx.read_bytes()
    cases = {
        "locked.xlsx": (encrypted_workbook(), "password-protected"),
        "cut.xlsx": (whole[: len(whole) // 2], "truncated or damaged"),
        "text.xlsx": (b"id,name\n1,a\n", "not an Excel workbook"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ReadError, match=message) as caught:
            open_table(path)
        assert "\n" not in str(caught.value)
    schema = tmp_path / "s.json"
    schema.write_text("{}")
    result = subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "validate",
                             str(tmp_path / "locked.xlsx"), "--schema", str(schema)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "password-protected" in result.stderr


def test_error_cells_found_in_an_xlsx_sheet_past_the_first(tmp_path: Path) -> None:
    path = tmp_path / "two.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("first").write_row(0, 0, ["a"])
    second = book.add_worksheet("second")
    second.write(0, 0, "v")
    second.write_formula(1, 0, "=1/0", None, "#DIV/0!")
    book.close()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert any("sheet2" in member for member in archive.namelist())
    rows = [row for batch in open_table(path, sheet="second").batches() for row in batch.rows()]
    assert rows == [("#DIV/0!",)]
