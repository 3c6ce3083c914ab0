"""Regression tests of issue 9's CSV findings: wrong verdicts and crashes in reading and the native pre-scan.

Each test names the finding it pins; every one failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import prescan, validate_file
from airflow_provider_typecheck.validation.readers import open_table
from tests.unit.test_prescan import assert_same_report, reference, scan_file, suspects_of, write_csv

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
