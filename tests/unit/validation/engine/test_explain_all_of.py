"""A root ``allOf`` (a schema generator's wrapping) is explained branch by branch: the error list
equals python-jsonschema's on the whole row, error for error and in its order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import validate_file
from tests.oracle import coerce_row, reference_validator

BRANCHES = [
    {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "minimum": 1},
                                                          "name": {"type": "string", "maxLength": 4}}},
    {"properties": {"name": {"pattern": "^[a-z]+$"}, "age": {"type": "integer", "maximum": 120}},
     "required": ["age"]},
    {"properties": {"id": {"maximum": 500}, "email": {"type": "string", "format": "email"}},
     "additionalProperties": True},
]
SCHEMAS = {
    "one branch": {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t",
                   "allOf": [BRANCHES[0]]},
    "three branches": {"allOf": BRANCHES, "$defs": {"unused": {"type": "string"}}},
    "a branch with a $ref": {"allOf": [BRANCHES[0], {"$ref": "#/$defs/extra"}],
                             "$defs": {"extra": BRANCHES[1]}},
    "draft-07": {"$schema": "http://json-schema.org/draft-07/schema#", "allOf": BRANCHES[1:]},
}
IDS = ["7", "0", "x", "", "600", "42"]
NAMES = ["ann", "Bob", "toolong", "", "b0b"]
AGES = ["30", "121", "old", ""]
EMAILS = ["a@b.com", "bad", ""]


@pytest.mark.parametrize("name", SCHEMAS)
@pytest.mark.parametrize("seed", range(3))
def test_root_all_of_errors_are_python_jsonschemas(tmp_path: Path, name: str, seed: int) -> None:
    schema = SCHEMAS[name]
    chance = random.Random(seed)
    rows = [{"id": chance.choice(IDS), "name": chance.choice(NAMES), "age": chance.choice(AGES),
             "email": chance.choice(EMAILS)} for _ in range(400 + seed * 700)]
    path = tmp_path / "rows.csv"
    path.write_text("id,name,age,email\n" + "".join(",".join(row.values()) + "\n" for row in rows))

    report = validate_file(path, schema, max_errors=100_000)

    validator = reference_validator(schema)
    expected = [
        (number, error.validator, error.message)
        for number, cells in enumerate(rows, start=2)
        for error in validator.iter_errors(coerce_row({k: v or None for k, v in cells.items()}, schema))
    ]
    assert [(error.row, error.keyword, error.message) for error in report.errors] == expected
    assert report.invalid_rows == len({number for number, _, _ in expected})
