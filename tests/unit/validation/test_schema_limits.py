"""Schemas past the size and depth limits, and references that loop, are clear schema errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from airflow_provider_typecheck.validation import SchemaError, check_schema, compile_schema, load_schema, validate_frame


def nested(keyword: str, levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {keyword: schema}
    return schema


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"$ref": "#"}, "invalid schema at /: this subschema leads back to itself"),
        ({"properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"allOf": [{"$ref": "#/$defs/x"}]}}},
         "invalid schema at /$defs/x: this subschema leads back to itself"),
        ({"anyOf": [{"type": "string"}, {"$ref": "#"}]}, "leads back to itself"),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {"$ref": "#/definitions/b"},
          "b": {"not": {"$ref": "#/definitions/a"}}}}, "leads back to itself"),
        (nested("not", 10_000), "invalid schema at /: the schema nests deeper than 64 levels"),
        (nested("items", 65), "the schema nests deeper than 64 levels"),
        ({"$defs": {f"a{i}": {"$ref": f"#/$defs/a{i + 1}"} for i in range(100)} | {"a100": {}}},
         "chain deeper than 64"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}},
         "invalid schema at /properties/a: $ref '#/$defs/missing' cannot be resolved within this schema"),
    ],
)
def test_loops_and_depth_are_schema_errors(schema: dict, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        check_schema(schema)
    assert message in str(raised.value)
    with pytest.raises(SchemaError):
        compile_schema(schema)


def test_the_limits_are_arguments() -> None:
    schema = {"properties": {f"c{i}": {"enum": list(range(50))} for i in range(100)}}
    size = len(json.dumps(schema, separators=(",", ":")))
    with pytest.raises(SchemaError, match=f"is {size:,} bytes as compact JSON; the limit is 1,000"):
        check_schema(schema, max_bytes=1000)
    assert check_schema(schema, max_bytes=size) == "2020-12"
    assert check_schema(nested("not", 80), max_depth=100) == "2020-12"
    with pytest.raises(SchemaError, match="deeper than 10 levels"):
        compile_schema(nested("not", 11), max_depth=10)


def test_a_recursive_schema_that_ends_still_validates() -> None:
    # Recursion that descends into a value (a tree's children), or applies the root to a
    # cell, ends: python-jsonschema and the engine both run it.
    tree = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "children": {"type": "array", "items": {"$ref": "#"}},
            "parent": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]},
        },
        "required": ["name"],
    }
    frame = pl.DataFrame({"name": ["ab", "a", "cd"], "parent": ["5", "6", "x"]})
    report = validate_frame(frame, tree)
    assert (report.invalid_rows, report.errors_by_column) == (2, {"name": {"minLength": 1}, "parent": {"anyOf": 1}})
    assert report.errors[-1].message == "'x' is not valid under any of the given schemas"


def test_load_schema_refuses_big_deep_and_special_files(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"enum": list(range(1000))}))
    with pytest.raises(SchemaError, match=r"big.json is 4,\d+ bytes; the limit is 100"):
        load_schema(big, max_bytes=100)
    deep = tmp_path / "deep.json"
    deep.write_text('{"not": ' * 100_000 + "{}" + "}" * 100_000)
    with pytest.raises(SchemaError, match="nests deeper than 64 levels"):
        load_schema(deep)
    with pytest.raises(SchemaError, match="is not a regular file"):
        load_schema("/dev/zero")
    with pytest.raises(SchemaError, match="is a directory"):
        load_schema(tmp_path)


def test_a_pattern_the_regex_engine_reads_otherwise_is_refused() -> None:
    for pattern in ("^[[:alpha:]]+$", "(?:ab){e<=1}"):
        with pytest.raises(SchemaError, match="POSIX class"):
            check_schema({"properties": {"a": {"pattern": pattern}}})
    assert check_schema({"properties": {"a": {"pattern": r"^\{[a-z]{2,3}\}$"}}}) == "2020-12"
