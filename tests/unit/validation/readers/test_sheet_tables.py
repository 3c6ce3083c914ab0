"""Sheets as they come: blank and repeated header cells, one table of several, title and comment
lines, times and durations in every format, 1904 workbooks, trimmed text, a row of empty strings.

Each verdict is compared with python-jsonschema on the values an independent reader
(openpyxl, xlrd, the ODS's XML) gives for the same cells under the contract
(tests/sheets_reference.py).
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
import xlsxwriter
import xlwt

from airflow_provider_typecheck.validation import ReadError, open_table, validate_file
from tests.sheets_reference import Rows, block, header_names, ods_rows, reference, write_ods, xls_rows, xlsx_rows

ANY_TEXT = {"type": ["string", "null"]}


def texts(path: Path, **options: Any) -> tuple[list[str], list[tuple[str | None, ...]]]:
    table = open_table(path, **options)
    return table.header, [row for batch in table.batches() for row in batch.rows()]


def assert_agrees(path: Path, rows: Rows, header_at: int, schema: dict, *, last_row: int | None = None,
                  columns: range | None = None, **options: Any) -> None:
    """The engine's verdicts on ``path`` equal python-jsonschema's on the reference's cells."""
    header, data = block(rows, header_at, last_row=last_row, columns=columns)
    total, counts, invalid = reference(header, data, schema)
    report = validate_file(path, schema, max_errors=10_000, **options)
    assert report.header_row == header_at
    assert report.total_rows == total
    assert report.errors_by_column == counts
    assert {error.row for error in report.errors} == invalid
    assert report.invalid_rows == len(invalid)


def xlsx(path: Path, rows: list[list[Any]], *, start_row: int = 0, start_column: int = 0, **options: Any) -> Path:
    book = xlsxwriter.Workbook(path, options)
    sheet = book.add_worksheet("Data")
    for offset, row in enumerate(rows):
        for column, value in enumerate(row):
            if value is not None:
                sheet.write(start_row + offset, start_column + column, value)
    book.close()
    return path


# --------------------------------------------------------------------------- header names


HEADER = ["id", None, "name", "name", "B", "  "]
ROWS = [[1, "x", "Ann", "Ann B", "b", ""], [2, None, "Bo", None, "b2", "z"], ["three", "y", "", "C", None, None]]
STRICT = {"type": "object", "required": ["id", "B", "name.1"],
          "properties": {"id": {"type": "integer"}, "B": {"type": "string"}, "name.1": {"type": "string"},
                         "B.1": {"type": "string", "minLength": 2}, "F": {"type": ["string", "null"]}}}


def test_blank_and_repeated_header_cells_get_documented_names(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "names.xlsx", [HEADER, *ROWS])
    header, _ = texts(path)
    # B1 is blank: "B"; the column headed "B" then repeats it: "B.1"; F1 holds only spaces: "F".
    assert header == ["id", "B", "name", "name.1", "B.1", "F"]
    assert_agrees(path, xlsx_rows(path), 1, STRICT)
    warnings = open_table(path).warnings
    assert warnings == [
        "2 empty header cell(s): B1 named 'B', F1 named 'F'",
        "2 repeated header name(s): D1 repeats 'name', named 'name.1', E1 repeats 'B', named 'B.1'",
    ]


def test_csv_header_cells_follow_the_same_rule(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("id,,name,name,B,  \n1,x,Ann,Ann B,b,\n2,,Bo,,b2,z\nthree,y,,C,,\n")
    assert texts(path)[0] == ["id", "B", "name", "name.1", "B.1", "F"]
    report = validate_file(path, STRICT)
    assert report.warnings == open_table(tmp_path / "names.csv").warnings
    assert report.invalid_rows == validate_file(xlsx(tmp_path / "same.xlsx", [HEADER, *ROWS]), STRICT).invalid_rows


def test_a_suffix_already_taken_is_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "taken.csv"
    path.write_text("a,a,a.1,a\n1,2,3,4\n")
    assert texts(path)[0] == ["a", "a.2", "a.1", "a.3"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_strict_header_refuses_with_the_column_letter_and_the_header_row(tmp_path: Path, suffix: str) -> None:
    rows = [["Title"], [], ["id", None, "name"], [1, 2, 3]]
    if suffix == ".csv":
        path = tmp_path / "t.csv"
        path.write_text("Title\n\nid,,name\n1,2,3\n")
    else:
        path = xlsx(tmp_path / "t.xlsx", rows)
    with pytest.raises(ReadError, match=r"header cell B3 is empty \(the header is row 3\)"):
        open_table(path, header_row=3, strict_header=True)
    (tmp_path / "dup.csv").write_text("x\n\nid,name,id\n")
    with pytest.raises(ReadError, match=r"header names column 'id' more than once \(cells A3 and C3; the header is row 3\)"):
        open_table(tmp_path / "dup.csv", header_row=3, strict_header=True)


def test_blank_header_cells_are_named_by_the_sheets_own_column_letter(tmp_path: Path) -> None:
    # The table starts in column C: its blank second header cell is column D.
    path = xlsx(tmp_path / "offset.xlsx", [["id", None, "v"], [1, "a", "b"]], start_row=1, start_column=2)
    assert texts(path)[0] == ["id", "D", "v"]


# --------------------------------------------------------------------------- one table of several


def two_tables(path: Path) -> Path:
    """Sales in A3:C6 under a title, a second table (stock) beside it in E3:F5, notes below row 8."""
    return xlsx(path, [
        ["Quarterly figures"],
        [],
        ["region", "units", "price", None, "sku", "stock"],
        ["north", 10, 2.5, None, "A-1", 4],
        ["south", "n/a", 3, None, "A-2", -1],
        ["east", 7, None, None, None, None],
        [],
        ["Note: prices in EUR"],
    ])


SALES = {"type": "object", "required": ["region", "units", "price"], "additionalProperties": False,
         "properties": {"region": {"type": "string"}, "units": {"type": "integer"}, "price": {"type": "number"}}}
STOCK = {"type": "object", "required": ["sku", "stock"],
         "properties": {"sku": {"pattern": "^A-[0-9]$"}, "stock": {"type": "integer", "minimum": 0}}}


def test_a_range_checks_one_table_and_keeps_the_sheets_row_numbers(tmp_path: Path) -> None:
    path = two_tables(tmp_path / "tables.xlsx")
    rows = xlsx_rows(path)
    assert_agrees(path, rows, 3, SALES, last_row=6, columns=range(0, 3), cell_range="A3:C6")
    assert_agrees(path, rows, 3, STOCK, last_row=5, columns=range(4, 6), cell_range="E3:F5")
    report = validate_file(path, STOCK, cell_range="E3:F5")
    assert [(error.row, error.column) for error in report.errors] == [(5, "stock")]


def test_columns_choose_among_the_header_names(tmp_path: Path) -> None:
    path = two_tables(tmp_path / "tables.xlsx")
    header, rows = texts(path, cell_range="A3:F6", columns="units,stock")
    assert header == ["units", "stock"]
    assert rows == [("10", "4"), ("n/a", "-1"), ("7", None)]
    with pytest.raises(ReadError, match=r"no column 'nope' in the header \(row 3\)"):
        open_table(path, cell_range="A3:F6", columns=["units", "nope"])


def test_a_range_on_a_csv_counts_rows_and_fields_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "tables.csv"
    path.write_text("Quarterly figures\n\nregion,units,price,,sku,stock\nnorth,10,2.5,,A-1,4\n"
                    "south,n/a,3,,A-2,-1\neast,7\n\nNote: prices in EUR\n")
    header, rows = texts(path, cell_range="A3:C6")
    assert header == ["region", "units", "price"]
    assert rows == [("north", "10", "2.5"), ("south", "n/a", "3"), ("east", "7", None)]
    report = validate_file(path, SALES, cell_range="A3:C6")
    assert report.header_row == 3
    # Row 6 lacks the price field inside the range: a short row, as ever (its price is absent,
    # so "required" fails too). Row 5's units fail. The fields beyond C do not count.
    assert sorted((error.row, error.keyword) for error in report.errors) == [(5, "type"), (6, "ragged"),
                                                                            (6, "required")]
    stock = validate_file(path, STOCK, cell_range="E3:F5")
    assert [(error.row, error.column) for error in stock.errors] == [(5, "stock")]


# --------------------------------------------------------------------------- title and comment lines


def test_header_row_auto_passes_over_comment_and_title_lines(tmp_path: Path) -> None:
    path = tmp_path / "comment.csv"
    path.write_text("# clean this data!\n# exported, by hand\nid,name\n1,Ann\nx,Bo\n")
    report = validate_file(path, {"properties": {"id": {"type": "integer"}}}, header_row="auto")
    assert report.header_row == 3
    assert [(error.row, error.column) for error in report.errors] == [(5, "id")]
    assert "took row 3 as the header, passing over 2 title or comment row(s) above it" in report.warnings[0]
    sheet = xlsx(tmp_path / "title.xlsx", [["Note 1"], ["Sales by region"], [], ["region", "units"],
                                           ["north", 1]], start_row=2)
    assert_agrees(sheet, xlsx_rows(sheet), 6, SALES, header_row="auto")


def test_auto_keeps_a_header_starting_with_a_hash_and_a_one_column_file(tmp_path: Path) -> None:
    hashed = tmp_path / "hashed.csv"
    hashed.write_text("#id,name\n1,a\n")
    assert texts(hashed, header_row="auto")[0] == ["#id", "name"]
    single = tmp_path / "single.csv"
    single.write_text("name\nAnn\nBo\n")
    assert texts(single, header_row="auto") == (["name"], [("Ann",), ("Bo",)])


def test_the_default_header_warns_when_it_looks_like_a_title(tmp_path: Path) -> None:
    path = tmp_path / "comment.csv"
    path.write_text("# clean this data!\nid,name\n1,Ann\n")
    table = open_table(path)
    assert table.header == ["# clean this data!"]
    assert "--header-row auto" in table.warnings[0]


# --------------------------------------------------------------------------- times, durations, dates

# One workbook, written as .xlsx, .xls and .ods: a time of day, a duration past 24 hours,
# a midnight date-time, a date-time, and milliseconds.
TIME_OF_DAY, DURATION, SHORT, MIDNIGHT, MOMENT = 0.4237268518518518, 10.63206, 1.5 / 86400, 42663.0, 42663.42444444444
EXPECTED = [("10:10:10", "255:10:09.984", "00:00:01.500", "2016-10-20", "2016-10-20T10:11:12")]
TIMES_SCHEMA = {"type": "object", "properties": {
    "time": {"pattern": "^[0-9]{2}:[0-9]{2}:[0-9]{2}$"}, "duration": {"pattern": "^[0-9]+:[0-5][0-9]:[0-5][0-9]$"},
    "short": {"type": "string", "maxLength": 8}, "day": {"format": "date"}, "moment": {"format": "date-time"}}}
HEADERS = ["time", "duration", "short", "day", "moment"]


def times_xlsx(path: Path, date_1904: bool = False) -> Path:
    offset = 1462 if date_1904 else 0
    book = xlsxwriter.Workbook(path, {"date_1904": date_1904})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADERS)
    sheet.write_number(1, 0, TIME_OF_DAY, book.add_format({"num_format": "hh:mm:ss"}))
    sheet.write_number(1, 1, DURATION, book.add_format({"num_format": "[hh]:mm:ss"}))
    sheet.write_number(1, 2, SHORT, book.add_format({"num_format": "[h]:mm:ss.000"}))
    sheet.write_number(1, 3, MIDNIGHT - offset, book.add_format({"num_format": "yyyy-mm-dd hh:mm"}))
    sheet.write_number(1, 4, MOMENT - offset, book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}))
    book.close()
    return path


def times_xls(path: Path, date_1904: bool = False) -> Path:
    offset = 1462 if date_1904 else 0
    book = xlwt.Workbook()
    book.dates_1904 = date_1904
    sheet = book.add_sheet("Sheet1")
    for column, name in enumerate(HEADERS):
        sheet.write(0, column, name)
    for column, (value, shown) in enumerate([(TIME_OF_DAY, "hh:mm:ss"), (DURATION, "[hh]:mm:ss"),
                                             (SHORT, "[h]:mm:ss.000"), (MIDNIGHT - offset, "yyyy-mm-dd hh:mm"),
                                             (MOMENT - offset, "yyyy-mm-dd hh:mm:ss")]):
        sheet.write(1, column, value, xlwt.easyxf(num_format_str=shown))
    book.save(str(path))
    return path


def times_ods(path: Path) -> Path:
    return write_ods(path, [
        [("string", "", name) for name in HEADERS],
        [("time", "PT10H10M10S", "10:10:10"), ("time", "PT255H10M09.984S", "255:10:10"),
         ("time", "PT00H00M01.5S", "00:00:01.500"), ("date", "2016-10-20T00:00:00", "2016-10-20 00:00"),
         ("date", "2016-10-20T10:11:12", "2016-10-20 10:11:12")],
    ])


@pytest.mark.parametrize("date_1904", [False, True], ids=["1900", "1904"])
def test_times_durations_and_dates_read_alike_in_xlsx_xls_and_ods(tmp_path: Path, date_1904: bool) -> None:
    files = {
        "xlsx": (times_xlsx(tmp_path / "t.xlsx", date_1904), xlsx_rows),
        "xls": (times_xls(tmp_path / "t.xls", date_1904), xls_rows),
        "ods": (times_ods(tmp_path / "t.ods"), ods_rows),
    }
    for path, read in files.values():
        assert texts(path) == (HEADERS, EXPECTED), path.suffix
        assert_agrees(path, read(path), 1, TIMES_SCHEMA)
        assert validate_file(path, {"properties": {"time": {"type": "string", "minLength": 9}}}).invalid_rows == 1


def test_an_ods_time_is_a_value_for_a_required_column(tmp_path: Path) -> None:
    path = write_ods(tmp_path / "required.ods", [[("string", "", "at")], [("time", "PT08H00M00S", "08:00")]])
    report = validate_file(path, {"required": ["at"], "properties": {"at": {"const": "08:00:00"}}})
    assert report.is_valid, report.errors


# --------------------------------------------------------------------------- Excel's text, a row of ""


def without_preserve(source: Path, target: Path) -> Path:
    """``source`` with its shared strings stored as Excel would trim them: no xml:space="preserve"."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for part in original.infolist():
            data = original.read(part)
            if part.filename == "xl/sharedStrings.xml":
                data = data.replace(b' xml:space="preserve"', b"")
            copy.writestr(part, data)
    return target


def test_text_without_xml_space_preserve_is_trimmed_as_excel_reads_it(tmp_path: Path) -> None:
    kept = xlsx(tmp_path / "kept.xlsx", [["city ", "code"], ["City ", " x\t"], ["Lyon", "y"]])
    trimmed = without_preserve(kept, tmp_path / "trimmed.xlsx")
    schema = {"required": ["city"], "properties": {"city": {"pattern": "^[A-Za-z]+$"}, "code": {"maxLength": 1}}}
    assert texts(kept) == (["city ", "code"], [("City ", " x\t"), ("Lyon", "y")])
    assert texts(trimmed) == (["city", "code"], [("City", "x"), ("Lyon", "y")])
    assert_agrees(kept, xlsx_rows(kept), 1, schema)
    assert_agrees(trimmed, xlsx_rows(trimmed, trimmed=True), 1, schema)


def test_a_trailing_row_of_empty_strings_is_a_row_of_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "tail.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id", "name"])
    sheet.write_row(1, 0, [1, "Ann"])
    sheet.write_string(2, 0, "")
    sheet.write_string(2, 1, "")
    book.close()
    assert texts(path)[1] == [("1", "Ann"), ("", "")]  # empty cells, "" as null is
    schema = {"required": ["id"], "properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}}
    assert_agrees(path, xlsx_rows(path), 1, schema)
    assert [(error.row, error.keyword) for error in validate_file(path, schema).errors] == [(3, "required")]


def test_the_cell_limit_names_the_sheet_as_its_tab_shows_it(tmp_path: Path) -> None:
    from airflow_provider_typecheck.validation import WorkbookLimits

    path = xlsx(tmp_path / "big.xlsx", [["id"], [1], [2]])
    with pytest.raises(ReadError, match="sheet 'Data' spans 3 cells; the limit is 2"):
        open_table(path, workbook_limits=WorkbookLimits(max_cells=2))


def test_report_json_is_written_as_json_dump_would_write_it(tmp_path: Path) -> None:
    import json

    path = tmp_path / "many.csv"
    path.write_text("id\n" + "x\n" * 10_000 + "é\n")
    report = validate_file(path, {"properties": {"id": {"type": "integer"}}}, max_errors=20_000)
    out = io.StringIO()
    report.write_json(out)
    assert out.getvalue() == json.dumps(report.to_dict(), ensure_ascii=False)
    assert json.loads(out.getvalue())["header_row"] == 1


def test_dates_keep_their_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "ms.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
    sheet.write(0, 0, "at")
    sheet.write_datetime(1, 0, datetime.datetime(2021, 3, 4, 5, 6, 7, 250_000), stamp)
    sheet.write_datetime(2, 0, datetime.datetime(2021, 3, 4), stamp)
    book.close()
    assert texts(path)[1] == [("2021-03-04T05:06:07.250",), ("2021-03-04",)]
    assert_agrees(path, xlsx_rows(path), 1, {"properties": {"at": {"format": "date-time"}}})


def test_text_that_looks_like_a_date_time_stays_as_typed(tmp_path: Path) -> None:
    typed = ["2016-10-20T00:00:00", "2016-10-20T10:11:12.5", "10:10:10"]
    book = xlsx(tmp_path / "text.xlsx", [["a", "b", "c"], typed])
    ods = write_ods(tmp_path / "text.ods", [[("string", "", name) for name in "abc"],
                                            [("string", "", text) for text in typed]])
    assert texts(book)[1] == texts(ods)[1] == [tuple(typed)]
    dates = write_ods(tmp_path / "dates.ods", [[("string", "", "at")], [("date", "2016-10-20T10:11:12.5", "x")],
                                               [("date", "2016-10-20", "x")], [("date", "2016-10-20T00:00:00", "x")]])
    assert texts(dates)[1] == [("2016-10-20T10:11:12.500",), ("2016-10-20",), ("2016-10-20",)]
    assert_agrees(dates, ods_rows(dates), 1, {"properties": {"at": {"format": "date"}}})


def test_ods_times_are_placed_through_repeated_rows_columns_and_merged_cells(tmp_path: Path) -> None:
    """LibreOffice compresses runs of empty cells and rows (``number-columns-repeated``,
    ``number-rows-repeated``) and keeps merged cells as covered ones: every time lands in its cell."""
    time = '<table:table-cell office:value-type="time" office:time-value="PT{h}H00M00S"><text:p>x</text:p></table:table-cell>'
    text = '<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>'
    body = (
        '<table:table-column table:number-columns-repeated="5"/>'
        f'<table:table-row>{text.format(t="a")}{text.format(t="b")}{text.format(t="c")}{text.format(t="d")}</table:table-row>'
        f'<table:table-row>{time.format(h=1)}<table:table-cell table:number-columns-repeated="2"/>{time.format(h=2)}</table:table-row>'
        '<table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-repeated="4"/></table:table-row>'
        '<table:table-row><table:table-cell table:number-columns-spanned="2" office:value-type="string"><text:p>m</text:p>'
        f'</table:table-cell><table:covered-table-cell/>{time.format(h=3)}'
        '<table:table-cell table:number-columns-repeated="1" office:value-type="time" office:time-value="PT04H00M00S"/></table:table-row>'
        f'<table:table-row><table:table-cell/>{text.format(t="y")}<table:table-cell table:number-columns-repeated="2" '
        'office:value-type="date" office:date-value="2020-01-02T00:00:00"><text:p>2020-01-02</text:p></table:table-cell>'
        '</table:table-row>'
    )
    path = write_ods(tmp_path / "repeats.ods", [], body=body)
    rows = ods_rows(path)
    assert rows[2] == ["01:00:00", None, None, "02:00:00"] and rows[5] == ["m", None, "03:00:00", "04:00:00"]
    header, data = texts(path)
    assert header == ["a", "b", "c", "d"]
    assert data[0] == ("01:00:00", None, None, "02:00:00")
    assert data[3][2:] == ("03:00:00", "04:00:00")
    assert data[4][2:] == ("2020-01-02", "2020-01-02")
    assert_agrees(path, rows, 1, {"properties": {"d": {"pattern": "^0[24]"}}, "required": ["d"]})


@given(st.lists(st.sampled_from(["", " ", None, "a", "a.1", "a.2", "B", "C", "B.1", "a.1.1"]), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=30))
def test_header_names_are_unique_and_follow_the_documented_rule(cells: list[str | None], first_column: int) -> None:
    from airflow_provider_typecheck.validation.readers.header import name_columns

    names, _ = name_columns("f", cells, range(first_column, first_column + len(cells)), 1)
    assert names == header_names(cells, first_column)
    assert len(set(names)) == len(names)


def test_table_options_as_users_give_them_and_as_a_job_carries_them() -> None:
    from airflow_provider_typecheck.validation.readers import TableSpec

    assert TableSpec.of("auto", "e3:f9", "sku,stock", True).as_options() == {
        "header_row": "auto", "cell_range": "E3:F9", "columns": ("sku", "stock"), "strict_header": True}
    assert TableSpec.of("4").as_options() == {"header_row": 4}
    assert TableSpec.of().as_options() == {}
    for bad, message in [({"header_row": "0"}, "1 or more"), ({"cell_range": "A0:B2"}, "not a cell range"),
                         ({"columns": ""}, "no columns named")]:
        with pytest.raises(ReadError, match=message):
            TableSpec.of(**bad)
