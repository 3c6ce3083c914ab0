"""The suspects' records split without Polars read exactly as Polars reads them."""

from __future__ import annotations

import pytest

from airflow_provider_typecheck.validation.readers import csv_records, open_table

RECORDS = [
    'a,b,c\n1,2,3\n',
    'a,b,c\n,,\n"",,""\n',  # unquoted empty: null; quoted empty: ""
    'a,b,c\n"x ""y"" z","multi\nline",\n',  # doubled quotes, a newline inside quotes, a trailing empty
    'a,b,c\r\n1,"two\r\nlines",3\r\n4,5,6\r\n',  # CRLF, inside quotes too
    'a,b,c\n1\n2,3\n',  # short rows are padded with nulls
    'a;b;c\n1;"x;y";\n',
    'a,b,c\n1,2,3',  # no newline at the end
    'a,b,c\r\n1,,3\r\n4,5\r\n',  # no quote at all: split line by line
    'a,b,c\n\xa0,x y,\n',
    'a,b,c\n é ,"ü",€\n',
    '"a","b\nb",c\n1,2,3\n',  # a header spanning lines
]


@pytest.mark.parametrize("data", RECORDS)
def test_like_polars(tmp_path, data: str) -> None:
    path = tmp_path / "records.csv"
    path.write_bytes(data.encode())
    table = open_table(path)
    assert table.csv is not None
    rows = table.csv.scanned_rows(data.encode())
    assert rows is not None
    assert rows == table.csv.records(data.encode()).rows()


@pytest.mark.parametrize(
    "data",
    [
        'a,b\n1,2\n\n3,4\n',  # a blank row
        'a,b\n1,2,3\n',  # too long
        'a,b\n1,x"y\n',  # a quote inside an unquoted field
        'a,b\n1,"x"y\n',  # text after a closing quote
        'a,b\n1,x\ry\n',  # a bare CR
        'a,b\n1,"open\n',  # a quote never closed
    ],
)
def test_what_the_scan_declines_is_left_to_polars(data: str) -> None:
    assert csv_records.scanned_rows(data.encode(), ",", 2) is None


def test_big_stretches_are_left_to_polars() -> None:
    data = b"a\n" + b"x\n" * csv_records.PLAIN_READ_BYTES
    assert csv_records.scanned_rows(data, ",", 1) is None


def _generated_records(seed: int) -> tuple[bytes, int]:
    """A header of 1-4 columns and up to 8 records: quoted delimiters and line ends, CRLF inside
    quotes, short rows; every third set with a byte out of place."""
    import random

    chance = random.Random(seed)
    width = chance.randint(1, 4)
    newline = chance.choice(["\n", "\r\n"])
    fields = ["x", "7", " ", "é", "", '""', '"a,b"', '"c\nd"', '"e""f"', '"g\r\nh"', " y ", "-1.5"]
    records = [",".join(chance.choice(fields) for _ in range(chance.randint(1, width)))
               for _ in range(chance.randint(0, 8))]
    body = newline.join(records) + chance.choice([newline, ""])
    if seed % 3 == 0:
        spot = chance.randint(0, len(body))
        body = body[:spot] + chance.choice(['"', "\r", "\n", ",", "x\"", '" ']) + body[spot:]
    return (",".join(f"c{i}" for i in range(width)) + newline + body).encode(), width


def test_any_records_are_split_like_polars_or_left_to_it() -> None:
    """Whatever the bytes, the plain split gives Polars' rows, or None (then Polars reads them);
    and it does split most of the sets, or the comparison would prove little."""
    import polars as pl

    split = 0
    for seed in range(300):
        data, width = _generated_records(seed)
        rows = csv_records.scanned_rows(data, ",", width)
        if rows is None:
            continue
        split += 1
        options = dict(separator=",", has_header=False, skip_lines=1, missing_columns="insert",
                       schema={f"c{i}": pl.String for i in range(width)}, raise_if_empty=False, quote_char='"')
        try:
            expected = pl.read_csv(data, **options).rows()
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, pl.exceptions.NoDataError) as err:
            pytest.fail(f"the plain split read {data!r} where Polars refuses it: {err}")
        assert rows == expected, data
    assert split >= 150  # 189 of the 300 sets when written
