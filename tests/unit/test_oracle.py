"""Pin the typing contract itself, so the oracle can be trusted as a reference."""

from __future__ import annotations

import pytest

from tests.oracle import allowed_types, coerce_row, reference_counts, reference_errors

NUMBER_COLUMN = {"type": "object", "properties": {"v": {"type": "number"}}}
INTEGER_COLUMN = {"type": "object", "properties": {"v": {"type": "integer"}}}
STRING_COLUMN = {"type": "object", "properties": {"v": {"type": "string"}}}


def coerce(text, schema):
    return coerce_row({"v": text}, schema)


@pytest.mark.parametrize("empty", ["", None])
def test_empty_cell_is_null_where_null_is_allowed(empty):
    schema = {"properties": {"v": {"type": ["integer", "null"]}}}
    assert coerce(empty, schema) == {"v": None}


@pytest.mark.parametrize("empty", ["", None])
def test_empty_cell_is_absent_where_null_is_not_allowed(empty):
    schema = {"properties": {"v": {"type": "integer"}}, "required": ["v"]}
    assert coerce(empty, schema) == {}
    assert reference_errors([{"v": empty}], schema) == [[(None, "required")]]


def test_empty_cell_is_null_where_no_type_is_named():
    assert coerce("", {"properties": {"v": {"minimum": 3}}}) == {"v": None}


@pytest.mark.parametrize(("text", "expected"), [("TRUE", True), ("true", True), ("False", False), ("fAlSe", False)])
def test_boolean_text_in_any_case(text, expected):
    value = coerce(text, {"properties": {"v": {"type": "boolean"}}})["v"]
    assert value is expected


def test_boolean_text_stays_a_string_where_boolean_is_not_allowed():
    assert coerce("TRUE", STRING_COLUMN) == {"v": "TRUE"}
    assert coerce("true", NUMBER_COLUMN) == {"v": "true"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("+5", 5),
        ("-7", -7),
        ("007", 7),
        ("1.0", 1.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-2.5E-1", -0.25),
        (str(10**30), 10**30),
    ],
)
def test_numerals_become_numbers(text, expected):
    value = coerce(text, NUMBER_COLUMN)["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_integer_and_float_numerals_keep_their_kind():
    assert type(coerce("1", INTEGER_COLUMN)["v"]) is int
    assert type(coerce("1.0", INTEGER_COLUMN)["v"]) is float
    # 1e3 has an exponent, so it is a float even though its value is whole.
    assert type(coerce("1e3", INTEGER_COLUMN)["v"]) is float


def test_big_integers_keep_full_precision():
    big = 10**30 + 1
    assert coerce(str(big), INTEGER_COLUMN) == {"v": big}
    schema = {"properties": {"v": {"type": "integer", "maximum": 10**30}}}
    assert reference_errors([{"v": str(big)}], schema) == [[("v", "maximum")]]


@pytest.mark.parametrize("text", [" 1", "1 ", "1,000", "1e", "0x10", "1_000", "1\n", "--1", "e3", ".", "+", "Infinity", "NaN", "١"])
def test_near_numerals_stay_strings(text):
    assert coerce(text, NUMBER_COLUMN) == {"v": text}


def test_numerals_stay_strings_where_numbers_are_not_allowed():
    assert coerce("1", STRING_COLUMN) == {"v": "1"}


def test_type_union_via_any_of():
    schema = {"properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "null"}]}}}
    assert allowed_types("v", schema) == {"integer", "boolean", "null"}
    assert coerce("12", schema) == {"v": 12}
    assert coerce("True", schema) == {"v": True}
    assert coerce("", schema) == {"v": None}
    assert coerce("x", schema) == {"v": "x"}


def test_types_named_through_local_ref_then_else_and_not_with_cycles():
    schema = {
        "$defs": {
            "loop": {"anyOf": [{"$ref": "#/$defs/loop"}, {"type": "integer"}]},
        },
        "properties": {
            "a": {"$ref": "#/$defs/loop"},
            "b": {"if": {"type": "string"}, "then": {"type": "boolean"}, "else": {"type": "null"}},
            "c": {"not": {"type": "number"}},
            "d": {"if": {"type": "number"}},
        },
    }
    assert allowed_types("a", schema) == {"integer"}
    # `if` is not part of the recursion; then/else/not are.
    assert allowed_types("b", schema) == {"boolean", "null"}
    assert allowed_types("c", schema) == {"number"}
    assert allowed_types("d", schema) == {"null", "boolean", "integer", "number", "string", "array", "object"}


def test_types_named_through_anchors_and_embedded_resources():
    schema = {
        "$id": "https://example.com/row.json",
        "$defs": {
            "text": {"$anchor": "text", "type": "string"},
            "flag": {"$id": "flag.json", "type": "boolean"},
            "nested": {"$id": "nested/", "$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"},
        },
        "properties": {
            "by_anchor": {"$ref": "#text"},
            "by_relative_uri": {"$ref": "flag.json"},
            "by_absolute_uri": {"$ref": "https://example.com/row.json#/$defs/text"},
            # The pointer resolves against the nested resource's own base URI.
            "through_nested_base": {"$ref": "nested/"},
            "remote": {"$ref": "https://elsewhere.example/x.json"},
        },
    }
    assert allowed_types("by_anchor", schema) == {"string"}
    assert allowed_types("by_relative_uri", schema) == {"boolean"}
    assert allowed_types("by_absolute_uri", schema) == {"string"}
    assert allowed_types("through_nested_base", schema) == {"integer"}
    assert len(allowed_types("remote", schema)) == 7
    assert coerce_row({"by_anchor": "5"}, schema) == {"by_anchor": "5"}


def test_pattern_properties_govern_columns_not_in_properties():
    schema = {
        "properties": {"n_listed": {"type": "string"}},
        "patternProperties": {"^n_": {"type": "integer"}, "_flag$": {"type": "boolean"}},
        "additionalProperties": {"type": "null"},
    }
    assert coerce_row({"n_listed": "5"}, schema) == {"n_listed": "5"}
    assert coerce_row({"n_count": "5"}, schema) == {"n_count": 5}
    # Both patterns match: their types are united.
    assert coerce_row({"n_flag": "5"}, schema) == {"n_flag": 5}
    assert coerce_row({"n_flag": "TRUE"}, schema) == {"n_flag": True}
    # Neither matches: additionalProperties governs, and it allows null only.
    assert coerce_row({"other": "5", "empty": ""}, schema) == {"other": "5", "empty": None}


def test_pattern_properties_match_anywhere_in_the_name():
    schema = {"patternProperties": {"id": {"type": "integer"}}}
    assert coerce_row({"user_id_2": "3"}, schema) == {"user_id_2": 3}


@pytest.mark.parametrize("additional", [True, False, None])
def test_boolean_or_missing_additional_properties_allow_all_types(additional):
    schema = {"properties": {}} if additional is None else {"additionalProperties": additional}
    assert coerce_row({"x": "", "y": "1", "z": "false"}, schema) == {"x": None, "y": 1, "z": False}


def test_false_property_schema_names_no_type():
    assert coerce_row({"v": "1"}, {"properties": {"v": False}}) == {"v": 1}


def test_reference_counts_and_invalid_rows():
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer", "maximum": 150}, "name": {"type": "string", "minLength": 1}},
        "required": ["age", "name"],
    }
    rows = [
        {"age": "30", "name": "ann"},
        {"age": "151", "name": "bob"},
        {"age": "", "name": ""},
        {"age": "x", "name": "cy"},
    ]
    counts, invalid = reference_counts(rows, schema)
    assert counts == {"age": {"maximum": 1, "type": 1}, "": {"required": 2}}
    assert invalid == {3, 4, 5}


def test_draft_comes_from_dollar_schema():
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "properties": {"v": {"type": "number", "maximum": 5, "exclusiveMaximum": True}},
    }
    assert reference_errors([{"v": "5"}, {"v": "4.5"}], draft4) == [[("v", "maximum")], []]


def test_formats_are_asserted():
    schema = {"properties": {"d": {"type": "string", "format": "date"}}}
    assert reference_errors([{"d": "2021-02-28"}, {"d": "2021-02-30"}], schema) == [[], [("d", "format")]]
