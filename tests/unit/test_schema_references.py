"""A $ref never leaves the schema: refused when the schema is checked, and never fetched by any validator."""

from __future__ import annotations

import ast
from pathlib import Path

import polars as pl
import pytest
import referencing.exceptions

from airflow_provider_typecheck.validation import SchemaError, check_schema, validate_frame
from airflow_provider_typecheck.validation.references import new_validator
from airflow_provider_typecheck.validation.schema import validator_class
from tests.ref_attacks import SECRET, escaping_schemas, http_listener, secret_file

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_typecheck"


@pytest.mark.parametrize("attack", list(escaping_schemas("http://127.0.0.1:1", Path("/s"))))
def test_a_reference_out_of_the_schema_is_refused_and_nothing_is_fetched(attack: str, tmp_path: Path) -> None:
    with http_listener() as listener:
        schema = escaping_schemas(listener.url, secret_file(tmp_path))[attack]
        with pytest.raises(SchemaError, match="points outside this schema") as refused:
            check_schema(schema)
        with pytest.raises(SchemaError, match="points outside this schema"):
            validate_frame(pl.DataFrame({"id": ["1"]}), schema)
    assert listener.requests == []
    assert SECRET not in str(refused.value)
    assert "references are never fetched" in str(refused.value)


# A meta-schema is held by the registry itself: it resolves without a fetch (check_schema refuses it).
@pytest.mark.parametrize("attack", [name for name in escaping_schemas("http://127.0.0.1:1", Path("/s"))
                                    if name != "a meta-schema"])
def test_a_validator_built_without_the_check_refuses_to_retrieve(attack: str, tmp_path: Path) -> None:
    # The registry is the last word: even a schema that skipped check_schema fetches nothing.
    with http_listener() as listener:
        schema = escaping_schemas(listener.url, secret_file(tmp_path))[attack]
        validator = new_validator(validator_class(schema), schema)
        with pytest.raises(referencing.exceptions.Unresolvable):
            list(validator.iter_errors({"id": {"x": "1"}}))
    assert listener.requests == []


def test_references_inside_the_schema_still_resolve_by_any_id() -> None:
    schema = {
        "$id": "https://example.com/row.json",
        "$defs": {
            "text": {"$anchor": "text", "type": "string"},
            "flag": {"$id": "flag.json", "type": "boolean"},
            "legacy": {"$schema": "http://json-schema.org/draft-07/schema#", "$id": "legacy.json",
                       "definitions": {"n": {"type": "integer"}}, "properties": {"n": {"$ref": "#/definitions/n"}}},
        },
        "properties": {"a": {"$ref": "#text"}, "b": {"$ref": "flag.json"}, "c": {"$ref": "legacy.json"}},
    }
    assert check_schema(schema) == "2020-12"
    report = validate_frame(pl.DataFrame({"a": ["x"], "b": ["true"], "c": ['{"n": 1}']}), schema)
    assert report.valid_rows == 1


def test_every_validator_the_package_builds_goes_through_new_validator() -> None:
    """No module but references.py calls a validator class: only new_validator passes the registry."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if path.name == "references.py" or not any(f"{word} jsonschema" in source for word in ("import", "from")):
            continue
        for node in ast.walk(ast.parse(source, str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            called = name in ("cls", "validate") or name.endswith("Validator")
            if isinstance(node.func, ast.Call):  # validator_class(schema)(schema), cls_for(...)(...)
                called = True
            if called and name not in ("evolve",):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)[:80]}")
    assert offenders == []
