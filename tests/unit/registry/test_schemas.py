"""What every schema store keeps: the schema checked by the core, its text and its fingerprint."""

from __future__ import annotations

import pytest

from airflow_provider_typecheck.registry.errors import InvalidImportName, InvalidInput, InvalidSchema
from airflow_provider_typecheck.registry.schemas import check_page, prepare_schema, validate_import_name

SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
          "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}


def test_the_same_schema_in_another_key_order_has_the_same_fingerprint() -> None:
    reordered = {"properties": {"name": {"type": "string"}, "id": {"type": "integer"}}, "type": "object",
                 "$schema": SCHEMA["$schema"]}
    first, second = prepare_schema(SCHEMA), prepare_schema(reordered)

    assert first.fingerprint == second.fingerprint
    assert first.source != second.source  # the text keeps the uploader's order
    assert (first.draft, prepare_schema({**SCHEMA, "required": ["id"]}).fingerprint != first.fingerprint) == (
        "2020-12", True)


@pytest.mark.parametrize(
    ("schema", "limits", "message"),
    [
        ([1, 2], {}, "must be a JSON object"),
        ({"type": "object", "properties": {"a": {"type": "nope"}}}, {}, "'type'"),
        (SCHEMA, {"max_bytes": 50}, "the limit is 50"),
        (SCHEMA, {"max_depth": 2}, "nests deeper than 2 levels"),
        ({"not": {"not": {"not": {}}}} | {"x": [[[[[[]]]]]]}, {"max_depth": 4}, "nests deeper than 4 levels"),
    ],
)
def test_a_schema_past_the_limits_or_the_meta_schema_is_refused(schema: object, limits: dict, message: str) -> None:
    with pytest.raises(InvalidSchema, match=message):
        prepare_schema(schema, **limits)


def test_the_same_schema_passes_under_a_raised_limit() -> None:
    assert prepare_schema(SCHEMA, max_bytes=10_000, max_depth=10).draft == "2020-12"


@pytest.mark.parametrize("name", ["users", "a.b-c_1", "x" * 128])
def test_import_names_that_are_legal(name: str) -> None:
    assert validate_import_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "x" * 129, "a b", None, 7])
def test_import_names_that_are_not(name: object) -> None:
    with pytest.raises(InvalidImportName):
        validate_import_name(name)


def test_pages_are_bounded() -> None:
    check_page(0, 1000)
    for skip, limit in ((-1, 10), (0, 0), (0, 1001)):
        with pytest.raises(InvalidInput):
            check_page(skip, limit)
