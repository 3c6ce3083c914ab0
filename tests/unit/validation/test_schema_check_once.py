"""One check per schema text: the walks a text shows needless are skipped, and compile_schema
takes the check's parse instead of parsing again, without sharing it with anyone."""

from __future__ import annotations

import json

import pytest

from airflow_provider_typecheck.validation import SchemaError, check_schema, compile_schema, read_schema
from airflow_provider_typecheck.validation.schema import checked_text, parsed_text


def nested(keyword: str, levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {keyword: schema} if keyword == "not" else {keyword: [schema]}
    return schema


def test_the_checks_parse_is_taken_once() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 3}}}
    text, _ = checked_text(schema)
    first, second = parsed_text(text), parsed_text(text)
    assert first == second == schema
    assert first is not second and first is not schema


def test_a_compiled_schema_is_not_the_callers() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer", "maximum": 5}}, "required": ["a"]}
    compiled = compile_schema(schema)
    schema["properties"]["a"]["maximum"] = 1
    assert compiled.schema["properties"]["a"]["maximum"] == 5
    again = compile_schema(json.loads(json.dumps(compiled.schema)))
    assert again is compiled  # the same text compiles once
    assert again.schema is not schema


@pytest.mark.parametrize("keyword", ["not", "allOf", "anyOf"])
def test_chains_without_references_are_bounded_by_the_nesting(keyword: str) -> None:
    # Without a $ref the in-place chain walk is skipped: the nesting limit bounds every chain.
    levels = 63 if keyword == "not" else 31
    check_schema(nested(keyword, levels))
    with pytest.raises(SchemaError, match="nests deeper than 64"):
        check_schema(nested(keyword, levels + 1))


@pytest.mark.parametrize(
    "schema",
    [
        {"enum": [{"$ref": "#"}]},  # the word in data: the walk runs, and finds no reference
        {"properties": {"$ref": {"type": "string"}}},  # a property named $ref
        {"const": "pattern"},
    ],
)
def test_the_words_in_data_are_harmless(schema: dict) -> None:
    assert check_schema(schema) == "2020-12"


def test_patterns_and_references_are_still_checked() -> None:
    with pytest.raises(SchemaError, match="not a valid regular expression"):
        check_schema({"properties": {"a": {"type": "string", "pattern": "(a"}}})
    with pytest.raises(SchemaError, match="leads back to itself"):
        check_schema({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})


def test_read_schema_reads_without_checking(tmp_path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"type": "integr"}')
    assert read_schema(path) == {"type": "integr"}
    with pytest.raises(SchemaError):
        compile_schema(read_schema(path))
    with pytest.raises(SchemaError, match="not valid JSON"):
        path.write_text("{")
        read_schema(path)
    with pytest.raises(SchemaError, match="not found"):
        read_schema(tmp_path / "missing.json")
