"""`typecheck infer`: a schema that generalises, and that the file it came from satisfies."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import xlsxwriter

from airflow_provider_typecheck.validation import check_schema, validate_file
from airflow_provider_typecheck.validation.infer import infer_schema


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def orders(path: Path, rng: random.Random) -> Path:
    rows = [[f"{1000 + i}", f"{rng.randint(1, 999):06d}", rng.choice(["open", "paid", "shipped", "void"]),
             f"{rng.uniform(0, 5000):.2f}", f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
             rng.choice(["", "rush", "gift wrap please", "leave at door"]), rng.choice(["true", "false"])]
            for i in range(2_311)]
    return write_csv(path, ["order_id", "store_code", "status", "total", "ordered_on", "note", "paid"], rows)


def people(path: Path, rng: random.Random) -> Path:
    rows = [[f"user{i}@example.org", rng.choice(["Ana", "Bo", "Chidi", "Dara", "Émile", "Zoë"]) + f" {i}",
             str(rng.randint(0, 110)) if rng.random() > 0.05 else "", f"+{rng.randint(1, 99)}",
             f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"]
            for i in range(1_500)]
    return write_csv(path, ["email", "name", "age", "country_code", "last_ip"], rows)


def measurements(path: Path, rng: random.Random) -> Path:
    rows = [[f"S{i % 40:03d}", f"{rng.gauss(20, 8):.3f}", f"{rng.randint(-40, 60)}",
             f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z", f"{rng.random():.6e}", ""]
            for i in range(3_000)]
    return write_csv(path, ["station", "temp_c", "delta", "taken_at", "ratio", "comment"], rows)


def postcodes(path: Path, rng: random.Random) -> Path:
    # French INSEE codes, US ZIP codes: digits that must keep their leading zeros.
    rows = [[f"{rng.choice([1, 2, 6, 13, 75])*1000 + rng.randint(1, 999):05d}", f"{rng.randint(501, 99950):05d}",
             f"{rng.randint(0, 10**6)}"] for _ in range(800)]
    rows.append(["01001", "00501", "7"])
    return write_csv(path, ["insee", "zip", "population"], rows)


def workbook(path: Path, rng: random.Random) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["sku", "price", "qty", "in_stock"])
    for row in range(1, 600):
        sheet.write_row(row, 0, [f"SKU-{row:05d}", round(rng.uniform(1, 300), 2), rng.randint(0, 40),
                                 rng.random() > 0.3])
    book.close()
    return path


FIXTURES = [orders, people, measurements, postcodes, workbook]


@pytest.mark.parametrize("make", FIXTURES, ids=[f.__name__ for f in FIXTURES])
@pytest.mark.parametrize("strict", [False, True])
def test_a_file_validates_against_the_schema_inferred_from_it(tmp_path: Path, make, strict: bool) -> None:
    suffix = ".xlsx" if make is workbook else ".csv"
    path = make(tmp_path / f"{make.__name__}{suffix}", random.Random(13))
    schema = infer_schema(path, strict=strict)
    check_schema(schema)
    report = validate_file(path, schema, max_errors=20)
    assert report.total_rows > 500
    assert report.is_valid, report.errors[:5]


def test_a_sample_of_the_file_generalises_to_the_rest(tmp_path: Path) -> None:
    path = orders(tmp_path / "orders.csv", random.Random(7))
    schema = infer_schema(path, sample=200)
    assert "additionalProperties" not in schema
    assert "minLength" not in json.dumps(schema) and "maximum" not in json.dumps(schema)
    assert validate_file(path, schema).is_valid


def test_strict_states_the_exact_bounds(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["n", "word", "code"], [["3", "ab", "007"], ["9", "abcd", "120"]])
    schema = infer_schema(path, strict=True)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["n"] == {"type": "integer", "minimum": 3, "maximum": 9}
    assert schema["properties"]["word"] == {"type": "string", "minLength": 2, "maxLength": 4}
    assert schema["properties"]["code"] == {"type": "string", "pattern": "^[0-9]{3}$"}
    loose = infer_schema(path)
    assert loose["properties"]["n"] == {"type": "integer", "minimum": 0}
    assert loose["properties"]["word"] == {"type": "string"}


def test_codes_with_leading_zeros_stay_strings(tmp_path: Path) -> None:
    path = postcodes(tmp_path / "codes.csv", random.Random(1))
    properties = infer_schema(path)["properties"]
    assert properties["insee"] == {"type": "string", "pattern": "^[0-9]+$"}
    assert properties["zip"] == {"type": "string", "pattern": "^[0-9]+$"}
    assert properties["population"]["type"] == "integer"


def test_cli_infer_reads_every_row_and_takes_strict(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["n"], [[str(i)] for i in range(20_000)] + [["-5"]])
    result = subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "infer", str(path), "--strict"],
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["properties"]["n"] == {"type": "integer", "minimum": -5, "maximum": 19_999}
