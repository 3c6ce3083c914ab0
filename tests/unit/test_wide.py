"""Very wide files and tiny batches take python-jsonschema row by row: same verdicts, counts and outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from jsonschema.validators import validator_for

from airflow_provider_typecheck.validation import SchemaError, check_schema, validate_file
from airflow_provider_typecheck.validation.engine import verdicts
from airflow_provider_typecheck.validation.schema import _distinct_properties
from tests.oracle import reference_counts

KINDS = [
    {"type": "integer", "minimum": 0, "maximum": 100},
    {"type": "string", "maxLength": 3},
    {"type": ["number", "null"], "multipleOf": 0.5},
    {"enum": ["a", "b"]},
]


def wide_case(tmp_path: Path, columns: int, rows: int) -> tuple[Path, dict, list[dict[str, str]]]:
    header = [f"c{i}" for i in range(columns)]
    schema = {"type": "object", "properties": {name: KINDS[i % 4] for i, name in enumerate(header)},
              "required": header[::7], "additionalProperties": False}
    good = ["5", "abc", "1.5", "a"]
    bad = ["-1", "abcd", "0.3", "z"]
    records = []
    for r in range(rows):
        records.append({name: (bad if (i + r) % 37 == 0 else good)[i % 4] if (i + r) % 53 else ""
                        for i, name in enumerate(header)})
    path = tmp_path / f"wide{columns}x{rows}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(records)
    return path, schema, records


def test_a_wide_schemas_few_rows_agree_with_python_jsonschema(tmp_path: Path) -> None:
    path, schema, records = wide_case(tmp_path, verdicts.WIDE_SCHEMA_COLUMNS + 44, verdicts.PYTHON_BATCH_ROWS)
    report = validate_file(path, schema, max_errors=100_000)
    counts, invalid = reference_counts(records, schema)
    assert report.errors_by_column == counts
    assert {error.row for error in report.errors} == invalid
    assert report.invalid_rows == len(invalid) == verdicts.PYTHON_BATCH_ROWS


def test_tiny_batches_give_the_whole_files_report_and_outputs(tmp_path: Path) -> None:
    path, schema, records = wide_case(tmp_path, 30, 400)
    whole = validate_file(path, schema, max_errors=100_000, invalid_out=tmp_path / "a.csv",
                          valid_out=tmp_path / "a_valid.csv")
    tiny = validate_file(path, schema, max_errors=100_000, batch_rows=1, invalid_out=tmp_path / "b.csv",
                         valid_out=tmp_path / "b_valid.csv")
    counts, invalid = reference_counts(records, schema)
    assert whole.errors_by_column == tiny.errors_by_column == counts
    assert whole.errors == tiny.errors
    assert whole.invalid_rows == tiny.invalid_rows == len(invalid)
    for name in ("", "_valid"):
        assert pl.read_csv(tmp_path / f"a{name}.csv", infer_schema=False).equals(
            pl.read_csv(tmp_path / f"b{name}.csv", infer_schema=False))


def test_meta_validation_checks_each_kind_of_property_once() -> None:
    schema = {"properties": {f"c{i}": dict(KINDS[i % 4]) for i in range(1000)}}
    reduced = _distinct_properties(schema)
    assert list(reduced["properties"]) == ["c0", "c1", "c2", "c3"]
    broken = {"properties": {**schema["properties"], "c999": {"type": "integr"}}}
    assert "c999" in _distinct_properties(broken)["properties"]


def test_meta_validation_of_a_long_required_list_keeps_its_verdicts() -> None:
    names = [f"c{i}" for i in range(1000)]
    assert _distinct_properties({"required": names})["required"] == ["c0"]
    for draft in ("http://json-schema.org/draft-04/schema#", "https://json-schema.org/draft/2020-12/schema"):
        check_schema({"$schema": draft, "required": names})
        for bad in ([*names, "c5"], [*names, 7]):  # a repeated name, a name that is not a string
            assert validator_for({"$schema": draft}).META_SCHEMA  # the draft's own meta-schema refuses it too
            assert not validator_for({"$schema": draft})(validator_for({"$schema": draft}).META_SCHEMA).is_valid(
                {"$schema": draft, "required": bad})
            with pytest.raises(SchemaError, match="required"):
                check_schema({"$schema": draft, "required": bad})
