"""Regression tests of issue 9's CSV findings: wrong verdicts and crashes in reading and the native pre-scan.

Each test names the finding it pins; every one failed before its fix.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_typecheck.validation import prescan, validate_file
from airflow_provider_typecheck.validation.readers import csv_reader, open_table
from tests.unit.validation.test_prescan import assert_same_report, reference, render, scan_file, suspects_of, write_csv

needs_scan = pytest.mark.skipif(not prescan.available(), reason="the native pre-scan is not built (make env)")

# --------------------------------------------------------------------------- numerals the scan must not misread

# Each is far from 1.0, where python-jsonschema and float() put it; the scan once read the first as 1.0
# (its exponent stopped counting at 100000).
HUGE_EXPONENTS = (
    "0." + "0" * 99_999 + "1e1000000",  # 1e900000: inf
    "1e99999999999999999999",  # inf
    "-1e99999999999999999999",  # -inf
    "1." + "0" * 10 + "e18446744073709551617",  # an exponent that wraps 64 bits to 1: inf
    "1e-18446744073709551615",  # 0.0
)


@needs_scan
@pytest.mark.parametrize("text", HUGE_EXPONENTS, ids=["long-fraction", "inf", "-inf", "wrapping", "tiny"])
def test_huge_exponents_are_suspects_never_cleared(tmp_path: Path, text: str) -> None:
    schema = {"properties": {"v": {"type": "number", "minimum": 0.5, "maximum": 2}}}
    path = write_csv(tmp_path / "numerals.csv", ["v"], [["1"], [text]])
    assert suspects_of(scan_file(path, schema)) == [1]
    report = validate_file(path, schema)
    assert (report.total_rows, report.invalid_rows) == (2, 1)
    assert reference(path, schema)["invalid"] == {3}


# --------------------------------------------------------------------------- numerals beyond a double or 4,300 digits

BIG = "9" * 5000  # past Python's int-string conversion limit (sys.get_int_max_str_digits: 4,300)
NUMERIC_SUBSCHEMAS = [
    {"maximum": 5}, {"minimum": 5}, {"exclusiveMaximum": 5}, {"exclusiveMinimum": 5}, {"maximum": 1e308},
    {"multipleOf": 3}, {"multipleOf": 2}, {"multipleOf": 0.5}, {"enum": [1, 2]}, {"const": 3},
    {"type": "integer"}, {"type": "integer", "maximum": 5}, {"anyOf": [{"maximum": 5}, {"minimum": 0}]},
    {"not": {"minimum": 0}},
]
HUGE_NUMERALS = (BIG, "-" + BIG, "+" + BIG, "0" * 4999 + "7", "1e400", "-1e400", "1E+400", "2.5e400", "1e-400")


def python_jsonschema_verdicts(schema: dict, texts: list[str]) -> list[list[tuple[str, str]]]:
    """python-jsonschema's (keyword, message) per cell, its value Python's int or float of its text
    (what json.loads gives for a JSON numeral: 1e400 is inf), an int of any size."""
    from jsonschema.validators import validator_for

    from airflow_provider_typecheck.validation.cells import integers_of_any_size

    validator = validator_for(schema)(schema)
    verdicts = []
    with integers_of_any_size():
        for text in texts:
            try:
                value = int(text) if text.lstrip("+-").isdigit() else float(text)
                verdicts.append(sorted((e.validator, e.message) for e in validator.iter_errors({"v": value})))
            except (ArithmeticError, ValueError) as err:  # python-jsonschema itself fails (1e400 % 0.5)
                verdicts.append([("unevaluable", f"python-jsonschema cannot evaluate this row: {err}")])
    return verdicts


@pytest.mark.parametrize("subschema", NUMERIC_SUBSCHEMAS, ids=json.dumps)
@pytest.mark.parametrize("scan", [True, False], ids=["scan", "polars"])
def test_numerals_beyond_a_double_or_4300_digits_follow_python_jsonschema(
    tmp_path: Path, subschema: dict, scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cell's value is Python's number for its text (1e400 is inf, 5,000 nines an int); verdicts and
    messages are python-jsonschema's on that value, on either path."""
    if not scan:
        monkeypatch.setattr(prescan, "available", lambda: False)
    schema = {"properties": {"v": subschema}}
    path = write_csv(tmp_path / "huge.csv", ["v"], [[text] for text in HUGE_NUMERALS])
    report = validate_file(path, schema)
    expected = python_jsonschema_verdicts(schema, list(HUGE_NUMERALS))
    found: list[list[tuple[str, str]]] = [[] for _ in HUGE_NUMERALS]
    for error in report.errors:
        found[error.row - 2].append((error.keyword, error.message))
    assert [sorted(errors) for errors in found] == expected
    assert report.invalid_rows == sum(1 for errors in expected if errors)


# --------------------------------------------------------------------------- reading shapes


def test_a_quoted_field_over_128_kib_in_a_file_with_a_ragged_row(tmp_path: Path) -> None:
    """The ragged-row count goes through Python's csv module, whose default field limit is 128 KiB."""
    path = tmp_path / "long.csv"
    path.write_text('a,b\n1,"' + "x\n" * 100_000 + '"\n2,3,4\n5,6\n')
    report = validate_file(path, {"properties": {"b": {"maxLength": 200_000}}})
    assert (report.total_rows, report.invalid_rows) == (3, 1)
    assert [(error.row, error.keyword) for error in report.errors] == [(3, "ragged")]


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_quote_inside_a_header_name_swallows_no_row(tmp_path: Path, ending: str) -> None:
    """``item,len",id``: the csv module reads ``len"`` as a name; both paths once ran on into the rows."""
    path = tmp_path / "quote.csv"
    path.write_text(ending.join(['item,len",id', "a,1,x", "b,2,toolong", "c,3,y"]) + ending, newline="")
    schema = {"properties": {"id": {"maxLength": 1}, 'len"': {"type": "integer"}}}
    assert open_table(path).header == ["item", 'len"', "id"]
    report, log = assert_same_report(path, schema)
    assert log.ran or not prescan.available()
    truth = reference(path, schema)
    assert (report.total_rows, report.invalid_rows) == (truth["rows"], len(truth["invalid"])) == (3, 1)
    assert [(error.row, error.column) for error in report.errors] == [(3, "id")]


@pytest.mark.parametrize("columns", [20_000, 100_000])
def test_a_header_over_64_kib_is_read_whole(tmp_path: Path, columns: int) -> None:
    """The header was parsed from the first 64 KiB only: a false duplicate, or a Polars traceback."""
    header = [f"c{index}" for index in range(columns)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + ",".join("1" * columns) + "\n" + ",".join("x" * columns) + "\n")
    table = open_table(path)
    assert table.header == header
    if columns == 20_000:  # the whole validation, on the smaller one (time)
        last = header[-1]
        report = validate_file(path, {"properties": {last: {"type": "integer"}}})
        assert (report.total_rows, report.invalid_rows) == (2, 1)
        assert [(error.row, error.column) for error in report.errors] == [(3, last)]
    else:
        (batch,) = table.batches()
        assert batch.shape == (2, columns) and batch.row(1)[-1] == "x"


# --------------------------------------------------------------------------- line endings

ENDINGS = ("\n", "\r\n", "\r")
# Quoted cells holding each line ending too: inside quotes a CR or LF is text, on every path.
LINE_CELLS = ("1", "x", "", "a\rb", "a\nb", "a\r\nb", "\r", 'say "hi"', "é")


@st.composite
def mixed_line_endings(draw: st.DrawFn) -> str:
    rows = draw(st.lists(st.lists(st.sampled_from(LINE_CELLS), min_size=1, max_size=4), min_size=1, max_size=6))
    # A lone empty cell would be a blank line (Python's csv module yields [] for it): quote it.
    lines = ["a,b,c"] + [",".join(render(text, quoted=len(row) == 1 and not text) for text in row) for row in rows]
    endings = draw(st.lists(st.sampled_from(ENDINGS), min_size=len(lines), max_size=len(lines)))
    final = draw(st.booleans())
    return "".join(line + ending for line, ending in zip(lines, endings, strict=True))[: None if final else -1]


def csv_module_records(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))[1:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mixed_line_endings())
def test_mixed_line_endings_read_as_pythons_csv_module_reads_them(tmp_path: Path, text: str) -> None:
    """A bare CR outside quotes ends a line, as in Python's csv module; the reader, the ragged-row
    count and both validation paths agree with the module, whatever mix of CR, LF and CRLF."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(text.encode())
    records = csv_module_records(text)
    table = open_table(path)
    assert [(r.row, r.fields) for r in table.ragged] == [
        (number, len(record)) for number, record in enumerate(records, start=2) if len(record) != 3
    ]
    rows = [row for batch in table.batches() for row in batch.rows()]
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        if len(record) <= 3:  # a too-long row's extras are left out; a short row is padded
            assert [cell or "" for cell in row] == record + [""] * (3 - len(record))
    schema = {"properties": {"a": {"type": "integer"}, "b": {"maxLength": 1}}}
    report, _ = assert_same_report(path, schema)
    truth = reference(path, schema) if all(len(record) == 3 for record in records) else None
    assert report.total_rows == len(records)
    if truth is not None:
        assert report.invalid_rows == len(truth["invalid"])
        assert report.errors_by_column == truth["errors_by_column"]


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\r\n1,2,3\n4,5,6\r7,8,9\r\n10,11,12\n",  # the issue's mix: 4 rows
        "a,b,c\r1,2,3\r4,5,6\r",  # old Mac: every line ends in CR
        'a,b,c\n1,"x\ry",3\r4,5,6\n',  # a CR inside quotes is text, the next one a line end
        'a,"b\rb",c\r1,2,3\r\n',  # in a quoted header name too
    ],
    ids=["issue", "mac", "quoted", "quoted-header"],
)
def test_line_ending_table(tmp_path: Path, text: str) -> None:
    path = tmp_path / "endings.csv"
    path.write_bytes(text.encode())
    records = csv_module_records(text)
    report, _ = assert_same_report(path, {"properties": {"a": {"type": "integer"}}})
    assert (report.total_rows, report.invalid_rows) == (len(records), 0)
    assert open_table(path).header == next(csv.reader(io.StringIO(text, newline="")))


def test_a_streamed_file_with_a_bare_cr_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files too big to hold stream from Polars, which cannot be told a CR ends a line: refused, not misread."""
    from airflow_provider_typecheck.validation.errors import ReadError

    monkeypatch.setattr(csv_reader, "WHOLE_FILE_BYTES", 16)
    monkeypatch.setattr(prescan, "available", lambda: False)
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\r5,6\n7,8\n")
    with pytest.raises(ReadError, match="bare CR"):
        validate_file(path, {"properties": {"a": {"type": "integer"}}})
    path.write_bytes(b'a,b\r\n1,2\r\n3,"x"\r\n')  # CRLF throughout: streamed as before
    assert validate_file(path, {"properties": {"a": {"type": "integer"}}}).total_rows == 2


# --------------------------------------------------------------------------- a file cut short during the scan

# Run in a child process: before the fix, the SIGBUS killed the process (pytest with it). The seam
# truncates the file right after the scan has mapped it and taken its size, before it reads a byte.
TRUNCATED_DURING_SCAN = """
import os, sys
from contextlib import contextmanager
from airflow_provider_typecheck.validation import ReadError, validate_file
from airflow_provider_typecheck.validation.readers import CsvFile

path, keep = sys.argv[1], int(sys.argv[2])
mapped = CsvFile.mapped

@contextmanager
def mapped_then_cut(self):
    with mapped(self) as data:
        os.truncate(path, keep)
        yield data

CsvFile.mapped = mapped_then_cut
try:
    validate_file(path, {"properties": {"id": {"type": "integer"}, "name": {"maxLength": 20}}})
except ReadError as err:
    print(err)
    sys.exit(2)
print("no error")
"""


@needs_scan
@pytest.mark.parametrize("keep", [0, 10, 5000, 1_500_000], ids=["empty", "in-header", "first-page", "mid-file"])
def test_a_file_truncated_during_the_scan_is_a_read_error_not_sigbus(tmp_path: Path, keep: int) -> None:
    import subprocess
    import sys

    path = tmp_path / "shrinking.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,name%d\n" % (i, i) for i in range(300_000)))  # 4.6 MB
    child = subprocess.run([sys.executable, "-c", TRUNCATED_DURING_SCAN, str(path), str(keep)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 2, (child.returncode, child.stderr[-2000:])
    assert child.stdout.strip() == f"{path}: the file changed while it was read (it was cut short)"
