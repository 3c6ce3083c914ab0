"""Readers: encodings, ragged rows, streaming, Excel text, on real files."""

from __future__ import annotations

import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_typecheck.validation import validate_file
from airflow_provider_typecheck.validation.readers import RaggedRow, csv_reader, csv_records, open_table

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}


def rows_of(table) -> list[dict]:
    return pl.concat(list(table.batches())).to_dicts()


@pytest.fixture(params=["whole", "streamed"])
def mode(request, monkeypatch) -> str:
    if request.param == "streamed":
        monkeypatch.setattr(csv_reader, "WHOLE_FILE_BYTES", 0)
    return request.param


def test_ragged_rows_without_quotes(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,name,x\n1,a,b\n2,b\n3,c,d,e\n4,,\n")
    table = open_table(path, batch_rows=2)
    assert table.ragged == [RaggedRow(3, 2, 3), RaggedRow(4, 4, 3, ("e",))]
    assert [r["id"] for r in rows_of(table)] == ["1", "2", "3", "4"]


def test_ragged_rows_with_quoted_newlines(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text('id,name,x\n1,"a\nb, c",z\n2,"q"\n3,"r",s\n')
    table = open_table(path)
    assert table.ragged == [RaggedRow(3, 2, 3)]
    assert rows_of(table)[0]["name"] == "a\nb, c"


def test_utf8_error_after_the_sniffed_head_falls_back_to_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,name\n" + b"1,plain\n" * 20_000 + "2,Jos\u00e9\n".encode("cp1252"))
    report = validate_file(path, SCHEMA)
    assert report.total_rows == 20_001
    assert [w.split(", a guess")[0] for w in report.warnings] == ["the file is not UTF-8; read it as cp1252"]


def test_streamed_counts_equal_whole(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.csv"
    pl.DataFrame({"id": [str(i) if i % 7 else "x" for i in range(5000)], "name": ["n"] * 5000}).write_csv(path)
    whole = validate_file(path, SCHEMA)
    monkeypatch.setattr(csv_reader, "WHOLE_FILE_BYTES", 0)
    streamed = validate_file(path, SCHEMA, batch_rows=999)
    assert (streamed.total_rows, streamed.invalid_rows) == (whole.total_rows, whole.invalid_rows) == (5000, 715)
    assert streamed.errors_by_column == whole.errors_by_column


def test_xlsx_cells_are_read_as_a_person_sees_them(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["int", "float", "bool", "date", "datetime", "text", "big"])
    sheet.write_number(1, 0, 42)
    sheet.write_number(1, 1, 1 / 3)
    sheet.write_boolean(1, 2, True)
    sheet.write_datetime(1, 3, datetime.datetime(2024, 2, 29), dates)
    sheet.write_datetime(1, 4, datetime.datetime(2024, 2, 29, 13, 5, 9), dates)
    sheet.write_string(1, 5, "007")
    sheet.write_number(1, 6, 1e20)
    book.close()
    (row,) = rows_of(open_table(path))
    assert row == {"int": "42", "float": repr(1 / 3), "bool": "true", "date": "2024-02-29",
                   "datetime": "2024-02-29T13:05:09", "text": "007", "big": "100000000000000000000"}


def test_any_fsspec_uri_is_read() -> None:
    import fsspec

    with fsspec.open("memory://typecheck-test/users.csv", "wb") as handle:
        handle.write(b"id,name\n1,a\nx,b\n")
    report = validate_file("memory://typecheck-test/users.csv", SCHEMA)
    assert (report.total_rows, report.invalid_rows) == (2, 1)
    assert report.errors[0].row == 3


def test_xlsx_column_mixing_dates_and_rounded_floats(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "m.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_string(0, 0, "v")
    sheet.write_number(1, 0, 1 / 7)
    sheet.write_datetime(2, 0, datetime.datetime(2024, 1, 2), book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_string(3, 0, "0.30")
    sheet.write_boolean(4, 0, False)
    book.close()
    values = [row["v"] for row in rows_of(open_table(path))]
    # xlsxwriter stores 1/7 with 16 significant digits; that stored value is what a person sees.
    assert values == ["0.1428571428571428", "2024-01-02", "0.30", "false"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_quarantine_files_go_to_fsspec_uris(suffix: str) -> None:
    import fsspec

    with fsspec.open("memory://typecheck-out/in.csv", "wb") as handle:
        handle.write(b"id,name\n1,a\nx,b\n2,c\n")
    validate_file("memory://typecheck-out/in.csv", SCHEMA, invalid_out=f"memory://typecheck-out/bad.{suffix}",
                  valid_out=f"memory://typecheck-out/good.{suffix}")
    with fsspec.open(f"memory://typecheck-out/bad.{suffix}", "rb") as handle:
        bad = pl.read_csv(handle) if suffix == "csv" else pl.read_parquet(handle)
    with fsspec.open(f"memory://typecheck-out/good.{suffix}", "rb") as handle:
        good = pl.read_csv(handle) if suffix == "csv" else pl.read_parquet(handle)
    assert bad["_row"].to_list() == [3]
    assert good.height == 2



def test_late_cp1252_file_still_reports_its_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "late-ragged.csv"
    path.write_bytes(b"id,name\n" + b"1,plain\n" * 20_000 + "2,Jos\u00e9\n3\n4,x,y\n".encode("cp1252"))
    table = open_table(path)
    assert table.ragged == [RaggedRow(20_003, 1, 2), RaggedRow(20_004, 3, 2, ("y",))]
    # known once the rows are read
    assert [w.split(", a guess")[0] for w in table.warnings] == ["the file is not UTF-8; read it as cp1252"]


@pytest.mark.parametrize(
    ("content", "proved"),
    [
        (b"id,name,x\n1,a,\n2,b,c\n", True),
        (b"id,name,x\r\n1,a,\r\n2,b,c", True),
        (b"\xef\xbb\xbfid,name,x\n1,a,\n2,,\n", True),
        (b"id,name,x\n1,a,\n2,b\n", False),  # a short row
        (b"id,name,x\n1,a,\n\n2,b,c\n", False),  # a blank line is a short row too
        (b"id,name,x\n1,a,\r\n2,b,c\n", False),  # a stray CR in an LF file: the exact scan decides
        (b'id,name,x\n"1",a,\n2,b,c\n', True),  # the stripped quotes are counted
        (b'id,"na\nme",x\n1,a,\n2,b,c\n', True),  # a header over two lines is one record
        (b'id,"na\nme",x\n1,a\n2,b,c\n', False),  # ... and a short row after it is seen
        (b'id,name,x\n1,"a\nb, c",\n2,b,c\n', True),  # a newline inside a quoted field
        (b'id,name,x\n1,"say ""hi""",\n2,b,c\n', False),  # escaped quotes: the exact scan decides
    ],
)
def test_file_size_proves_no_row_is_short_only_when_it_can(tmp_path: Path, content: bytes, proved: bool) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    frame = pl.read_csv(path, infer_schema=False, new_columns=["id", "name", "x"], truncate_ragged_lines=True)
    assert csv_records.bytes_add_up(str(path), ",", frame) is proved
    assert csv_records.bytes_add_up(content, ",", frame) is proved


def test_stripped_quotes_cannot_hide_short_rows(tmp_path: Path) -> None:
    # Two stripped quote characters make up, byte for byte, for two missing empty fields.
    path = tmp_path / "even.csv"
    path.write_bytes(b'id,name,x\n"1",a,\n2,b\n3,c\n')
    table = open_table(path)
    assert table.ragged == [RaggedRow(3, 2, 3), RaggedRow(4, 2, 3)]


def test_crlf_file_with_a_short_row(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"id,name,x\r\n1,a,\r\n2,b\r\n3,c,d\r\n")
    assert open_table(path).ragged == [RaggedRow(3, 2, 3)]


def test_quoted_empty_last_fields_are_not_short_rows(tmp_path: Path) -> None:
    # Every field quoted, as spreadsheet exports write them: "" is a field, a missing one is not.
    path = tmp_path / "all-quoted.csv"
    path.write_bytes(b'"id","name","x"\r\n"1","a",""\r\n"2","b"\r\n"3","c",\r\n"4","d",""\r\n')
    table = open_table(path)
    assert table.ragged == [RaggedRow(3, 2, 3)]
    assert [r["x"] for r in rows_of(table)] == ["", None, None, ""]


def test_short_rows_in_a_file_with_quoted_fields(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b'id,name,x\n1,"Doe, J",\n2,"Roe, K"\n3,c,\n')
    assert open_table(path).ragged == [RaggedRow(3, 2, 3)]


def test_a_streamed_file_holds_at_most_batch_rows_rows_at_a_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(csv_reader, "WHOLE_FILE_BYTES", 0)
    path = tmp_path / "s.csv"
    path.write_text("id,name\n" + "".join(f"{i},n\n" for i in range(1000)))
    heights = [batch.height for batch in open_table(path, batch_rows=64).batches()]
    assert sum(heights) == 1000 and max(heights) <= 64
    with pytest.raises(ValueError, match="batch_rows must be 1 or more"):
        open_table(path, batch_rows=0)


@st.composite
def csv_files(draw) -> tuple[bytes, list[RaggedRow]]:
    """A well-formed CSV with some rows cut short, and the short rows Python's csv module sees."""
    import csv
    import io as _io

    width = draw(st.integers(2, 4))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    # The csv module quotes a field holding a character of its line terminator: a CR
    # in an LF file would stay bare, and every CSV reader takes a bare CR for a line break.
    text = st.text(alphabet=st.sampled_from(list('ab ,"\n' + ("\r" if ending == "\r\n" else ""))), max_size=4)
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        # The first field is never empty: a row of one empty field would be a blank line.
        row = [draw(st.text(alphabet="xyz", min_size=1, max_size=3)), *(draw(text) for _ in range(width - 1))]
        rows.append(row[: draw(st.integers(1, width))] if draw(st.booleans()) else row)
    out = _io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    csv.writer(out, lineterminator=ending, quoting=quoting).writerows([[f"c{i}" for i in range(width)], *rows])
    content = out.getvalue()
    if draw(st.booleans()):
        content = content[: -len(ending)]  # no line ending after the last row
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + content.encode()
    short = [RaggedRow(number, len(row), width) for number, row in enumerate(rows, start=2) if len(row) < width]
    return data, short


@given(csv_files())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_short_rows_are_found_in_any_well_formed_csv(tmp_path: Path, case) -> None:
    data, short = case
    path = tmp_path / "h.csv"
    path.write_bytes(data)
    assert open_table(path).ragged == short
