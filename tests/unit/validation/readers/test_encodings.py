"""CSV encodings, title rows and blank lines above the header, and ragged rows in the invalid rows' output."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from airflow_provider_typecheck.validation import ReadError, open_table, validate_file
from tests.oracle import reference_errors

GREEK = "id,όνομα\n1,Καλημέρα\n2,Αθήνα\n"
CYRILLIC = "id,имя\n1,Москва\n2,Киев\n"
SCHEMA = {"properties": {"id": {"type": "integer", "maximum": 1}}}


def cells(table) -> list[tuple]:
    return [row for batch in table.batches() for row in batch.rows()]


def reference_rows(text: str, skip: int, schema: dict) -> set[int]:
    """The invalid row numbers python-jsonschema gives, reading the text with Python's csv module."""
    records = list(csv.reader(io.StringIO(text)))[skip:]
    header, rows = records[0], [dict(zip(records[0], r, strict=True)) for r in records[1:]]
    assert header
    return {skip + 2 + index for index, errors in enumerate(reference_errors(rows, schema)) if errors}


@pytest.mark.parametrize(("text", "codec"), [(GREEK, "cp1253"), (CYRILLIC, "cp1251"), (CYRILLIC, "koi8-r")])
def test_a_named_encoding_reads_legacy_text(tmp_path: Path, text: str, codec: str) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes(text.encode(codec))
    table = open_table(path, encoding=codec)
    expected = list(csv.reader(io.StringIO(text)))
    assert table.header == expected[0]
    assert [list(row) for row in cells(table)] == expected[1:]
    report = validate_file(path, SCHEMA, encoding=codec)
    assert report.warnings == []
    assert {error.row for error in report.errors} == reference_rows(text, 0, SCHEMA)


def test_a_guessed_cp1252_says_it_is_a_guess_and_how_to_override(tmp_path: Path) -> None:
    path = tmp_path / "greek.csv"
    path.write_bytes(GREEK.encode("cp1253"))
    report = validate_file(path, SCHEMA)
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("the file is not UTF-8; read it as cp1252, a guess")
    assert "--encoding" in report.warnings[0]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "wide.csv"
    data = GREEK.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    table = open_table(path)
    assert table.header == ["id", "όνομα"]
    assert cells(table) == [("1", "Καλημέρα"), ("2", "Αθήνα")]
    report = validate_file(path, SCHEMA)
    assert [error.row for error in report.errors] == [3]
    assert report.warnings == [f"read the file as {codec.split('-be')[0].upper()} (it starts with a byte order mark)"]


def test_utf16_without_a_mark_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "nomark.csv"
    path.write_bytes(GREEK.encode("utf-16-le"))
    with pytest.raises(ReadError, match="UTF-16"):
        open_table(path)
    assert cells(open_table(path, encoding="utf-16-le")) == [("1", "Καλημέρα"), ("2", "Αθήνα")]


def test_unknown_or_wrong_encodings_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("id,name\n1,a\n2,\u00e9\n".encode("latin-1"))
    with pytest.raises(ReadError, match="unknown encoding 'klingon'"):
        open_table(path, encoding="klingon")
    with pytest.raises(ReadError, match="not utf-8 text: line 3"):
        validate_file(path, SCHEMA, encoding="utf-8")


TITLED = "Sales report\nGenerated 2026-12-01\n\nid,name\n1,a\n2,b\n3,c\n"


@pytest.mark.parametrize("mode", ["whole", "scanned"])
def test_header_row_skips_title_rows_and_keeps_the_files_row_numbers(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "titled.csv"
    path.write_text(TITLED)
    table = open_table(path, header_row=4)
    assert table.header == ["id", "name"]
    assert table.first_row == 5
    schema = SCHEMA if mode == "scanned" else {**SCHEMA, "allOf": [True]}  # beyond the pre-scan: the Polars path
    report = validate_file(path, schema, header_row=4)
    assert {error.row for error in report.errors} == reference_rows(TITLED, 3, SCHEMA) == {6, 7}


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    text = "\n\r\n\nid,name\n1,a\n2,b\n"
    path.write_text(text, newline="")
    table = open_table(path)
    assert table.header == ["id", "name"]
    report = validate_file(path, SCHEMA)
    assert [error.row for error in report.errors] == [6]


def test_header_row_past_the_end_or_blank_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TITLED)
    with pytest.raises(ReadError, match="no header at row 3"):
        open_table(path, header_row=3)
    with pytest.raises(ReadError, match="no header at row 40"):
        open_table(path, header_row=40)
    with pytest.raises(ReadError, match="header row must be 1 or more"):
        open_table(path, header_row=0)


def test_cli_takes_encoding_and_header_row(tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    path.write_bytes(("Отчёт\n" + CYRILLIC).encode("cp1251"))
    schema = tmp_path / "s.json"
    schema.write_text('{"properties": {"id": {"maximum": 1}}}')
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_typecheck.cli", "validate", str(path), "--schema", str(schema),
         "--encoding", "cp1251", "--header-row", "2", "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1, result.stderr
    assert '"row": 4' in result.stdout and '"warnings": []' in result.stdout


def test_ragged_rows_keep_their_extra_fields_in_the_invalid_output(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('id,name\n1,a\n2,b,"x,1",y\n3\n4,d\n')
    out = tmp_path / "bad.csv"
    report = validate_file(path, {"properties": {"id": {"maximum": 3}}}, invalid_out=out)
    assert report.errors_by_column == {"": {"ragged": 2}, "id": {"maximum": 1}}
    bad = pl.read_csv(out, infer_schema=False)
    assert bad.columns == ["_row", "id", "name", "_extra", "_errors"]
    assert bad.rows() == [
        ("3", "2", "b", '["x,1", "y"]', ":ragged"),
        ("4", "3", None, None, ":ragged"),
        ("5", "4", "d", None, "id:maximum"),
    ]


def test_a_space_before_a_quote_is_read_as_pythons_csv_module_reads_it(tmp_path: Path) -> None:
    text = 'id,text\n1, "Test line 1"\n2, "Test, line 2"\n3, "a\nb"\n'
    path = tmp_path / "spaced.csv"
    path.write_text(text)
    records = list(csv.reader(io.StringIO(text)))
    table = open_table(path)
    assert [row[0] for row in cells(table)] == [record[0] for record in records[1:]]
    assert {r.row for r in table.ragged} == {n for n, r in enumerate(records[1:], start=2) if len(r) != 2}
    report = validate_file(path, {"properties": {"id": {"type": "integer"}}})
    assert report.total_rows == len(records) - 1
    assert report.errors_by_column == {"": {"ragged": 2}, "id": {"type": 1}}


def test_an_unbalanced_quote_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text('id,text\n1,ok\n2,"never closed\n3,x\n')
    with pytest.raises(ReadError, match="starts on line 3 is never closed"):
        validate_file(path, {"properties": {"id": {"type": "integer"}}, "allOf": [True]})
