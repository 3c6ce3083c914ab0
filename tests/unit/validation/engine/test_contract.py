"""Hand-written engine tests with explicit expected values.

Unlike the conformance and differential suites these do not ask the oracle:
every expected count, row number and message is written out, so a mistake
shared by the oracle and the engine would still show here.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from airflow_provider_typecheck.validation import SchemaError, validate_frame

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DRAFT_4 = "http://json-schema.org/draft-04/schema#"

USERS_SCHEMA = {
    "$schema": DRAFT_2020_12,
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "age": {"type": ["integer", "null"], "minimum": 0, "maximum": 150},
        "email": {"type": "string", "format": "email"},
        "plan": {"enum": ["free", "pro", "team"]},
        "active": {"type": "boolean"},
    },
    "required": ["id", "email"],
}

# Spreadsheet rows 2..6 (row 1 is the header).
USERS = pl.DataFrame(
    {
        "id": ["1", "2", "0", "x3", "5"],
        "age": ["30", "151", "", "1.5", "-1"],
        "email": ["a@b.com", "b@c.org", None, "nobody", "e@f.io"],
        "plan": ["free", "pro", "gold", "team", ""],
        "active": ["true", "FALSE", "yes", "True", None],
    },
    schema={name: pl.String for name in ("id", "age", "email", "plan", "active")},
)

# (row, column, path, keyword, message) of every error python-jsonschema gives for USERS.
USERS_ERRORS = {
    (3, "age", "/age", "maximum", "151 is greater than the maximum of 150"),
    (4, "id", "/id", "minimum", "0 is less than the minimum of 1"),
    (4, "plan", "/plan", "enum", "'gold' is not one of ['free', 'pro', 'team']"),
    (4, "active", "/active", "type", "'yes' is not of type 'boolean'"),
    # The empty email cell is absent (the column does not allow null), so `required` catches it.
    (4, None, "", "required", "'email' is a required property"),
    (5, "id", "/id", "type", "'x3' is not of type 'integer'"),
    # "1.5" is a numeral in a column allowing integer, so it is read as the number 1.5.
    (5, "age", "/age", "type", "1.5 is not of type 'integer', 'null'"),
    (5, "email", "/email", "format", "'nobody' is not a 'email'"),
    (6, "age", "/age", "minimum", "-1 is less than the minimum of 0"),
    # `plan` names no type, so all are allowed and the empty cell is null.
    (6, "plan", "/plan", "enum", "None is not one of ['free', 'pro', 'team']"),
}


def one_column(texts: list[str | None], name: str = "v") -> pl.DataFrame:
    return pl.DataFrame({name: texts}, schema={name: pl.String})


def test_users_counts():
    report = validate_frame(USERS, USERS_SCHEMA)
    assert report.total_rows == 5
    assert report.valid_rows == 1
    assert report.invalid_rows == 4
    assert report.errors_by_column == {
        "id": {"minimum": 1, "type": 1},
        "age": {"maximum": 1, "type": 1, "minimum": 1},
        "email": {"format": 1},
        "plan": {"enum": 2},
        "active": {"type": 1},
        "": {"required": 1},
    }
    assert not report.errors_truncated


def test_users_errors_name_row_column_path_keyword_and_message():
    report = validate_frame(USERS, USERS_SCHEMA)
    got = {(error.row, error.column, error.path, error.keyword, error.message) for error in report.errors}
    assert got == USERS_ERRORS
    assert len(report.errors) == len(USERS_ERRORS)
    assert {error.row for error in report.errors} == {3, 4, 5, 6}


def test_error_values_are_the_cell_text():
    report = validate_frame(USERS, USERS_SCHEMA)
    values = {(error.row, error.column): error.value for error in report.errors if error.column}
    assert values[(3, "age")] == "151"
    assert values[(5, "age")] == "1.5"
    assert values[(5, "id")] == "x3"
    assert values[(6, "plan")] in ("", None)


def test_max_errors_truncates_the_list_but_not_the_counts():
    report = validate_frame(USERS, USERS_SCHEMA, max_errors=3)
    assert len(report.errors) == 3
    assert report.errors_truncated
    assert report.invalid_rows == 4
    assert sum(sum(keywords.values()) for keywords in report.errors_by_column.values()) == len(USERS_ERRORS)


def test_report_to_dict_is_json():
    report = validate_frame(USERS, USERS_SCHEMA)
    as_json = json.loads(json.dumps(report.to_dict()))
    assert isinstance(as_json, dict)
    assert isinstance(report.fallback_keywords, list)


def test_missing_required_column_is_a_row_level_error_on_every_row():
    schema = {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v", "x"]}
    report = validate_frame(one_column(["1", "2", ""]), schema)
    assert report.errors_by_column == {"": {"required": 4}}
    assert report.invalid_rows == 3
    messages = sorted((error.row, error.message) for error in report.errors)
    assert messages == [
        (2, "'x' is a required property"),
        (3, "'x' is a required property"),
        (4, "'v' is a required property"),
        (4, "'x' is a required property"),
    ]
    assert all(error.column is None and error.path == "" for error in report.errors)


def test_numerals_booleans_and_near_numerals():
    schema = {"type": "object", "properties": {"v": {"type": ["number", "boolean"]}}}
    texts = ["1", "+5", ".5", "5.", "1e3", "TRUE", "false", " 1", "1,000", "0x10", "1\n", "", str(10**30)]
    report = validate_frame(one_column(texts), schema)
    # " 1", "1,000", "0x10" and "1\n" stay strings; the empty cell is absent (no null allowed).
    assert report.errors_by_column == {"v": {"type": 4}}
    assert sorted(error.row for error in report.errors) == [9, 10, 11, 12]
    assert {error.message for error in report.errors} == {
        "' 1' is not of type 'number', 'boolean'",
        "'1,000' is not of type 'number', 'boolean'",
        "'0x10' is not of type 'number', 'boolean'",
        "'1\\n' is not of type 'number', 'boolean'",
    }


def test_integer_type_accepts_whole_floats_from_draft_6_but_not_in_draft_4():
    frame = one_column(["1.0", "1e3", "2.5"])
    later = validate_frame(frame, {"properties": {"v": {"type": "integer"}}})
    assert later.errors_by_column == {"v": {"type": 1}}
    assert [error.row for error in later.errors] == [4]
    draft4 = validate_frame(frame, {"$schema": DRAFT_4, "properties": {"v": {"type": "integer"}}})
    assert draft4.errors_by_column == {"v": {"type": 3}}


def test_big_integers_are_compared_exactly():
    schema = {"properties": {"v": {"type": "integer", "maximum": 2**64}}}
    report = validate_frame(one_column([str(2**64), str(2**64 + 1)]), schema)
    assert [(error.row, error.message) for error in report.errors] == [
        (3, "18446744073709551617 is greater than the maximum of 18446744073709551616")
    ]


def test_float_numeral_message_shows_the_float():
    report = validate_frame(one_column(["1e3"]), {"properties": {"v": {"type": "number", "maximum": 999}}})
    assert [error.message for error in report.errors] == ["1000.0 is greater than the maximum of 999"]


def test_draft4_boolean_exclusive_maximum():
    schema = {"$schema": DRAFT_4, "properties": {"v": {"type": "number", "maximum": 5, "exclusiveMaximum": True}}}
    report = validate_frame(one_column(["4.5", "5"]), schema)
    assert [(error.row, error.keyword, error.message) for error in report.errors] == [
        (3, "maximum", "5 is greater than or equal to the maximum of 5")
    ]


def test_pattern_dollar_matches_before_a_final_newline_as_python_re_does():
    schema = {"properties": {"v": {"type": "string", "pattern": "b$"}}}
    report = validate_frame(one_column(["ab", "ab\n", "ab\n\n", "ba"]), schema)
    assert sorted(error.row for error in report.errors) == [4, 5]
    assert report.errors_by_column == {"v": {"pattern": 2}}


def test_dates_are_checked_for_real_calendar_days():
    schema = {"properties": {"d": {"type": "string", "format": "date"}}}
    report = validate_frame(one_column(["2020-02-29", "2021-02-29", "2021-02-30", "2021-13-01"], "d"), schema)
    assert sorted(error.row for error in report.errors) == [3, 4, 5]
    assert report.errors_by_column == {"d": {"format": 3}}


def test_pattern_properties_and_additional_properties_govern_unlisted_columns():
    schema = {
        "properties": {"id": {"type": "integer"}},
        "patternProperties": {"^n_": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    }
    frame = pl.DataFrame(
        {"id": ["1", "2"], "n_a": ["3", "-3"], "other": ["", ""]},
        schema={"id": pl.String, "n_a": pl.String, "other": pl.String},
    )
    report = validate_frame(frame, schema)
    # `other` is governed by additionalProperties false, which names no type: the
    # empty cell is null, the property is present, and additionalProperties fails.
    assert report.errors_by_column == {"n_a": {"minimum": 1}, "": {"additionalProperties": 2}}
    assert {(error.row, error.column, error.keyword) for error in report.errors} == {
        (2, None, "additionalProperties"),
        (3, None, "additionalProperties"),
        (3, "n_a", "minimum"),
    }
    assert len(report.errors) == 3


def test_error_paths_are_json_pointers_with_escaped_column_names():
    schema = {"properties": {"a/b": {"type": "integer"}, "t~x": {"type": "integer"}}}
    frame = pl.DataFrame({"a/b": ["x"], "t~x": ["y"]}, schema={"a/b": pl.String, "t~x": pl.String})
    report = validate_frame(frame, schema)
    assert {(error.column, error.path) for error in report.errors} == {("a/b", "/a~1b"), ("t~x", "/t~0x")}
    assert report.errors_by_column == {"a/b": {"type": 1}, "t~x": {"type": 1}}


def test_invalid_schema_raises_schema_error_with_a_pointer():
    with pytest.raises(SchemaError) as raised:
        validate_frame(one_column(["1"]), {"type": "object", "properties": {"v": {"type": "integr"}}})
    assert raised.value.message
    assert raised.value.pointer.startswith("/properties/v")


def test_remote_ref_raises_schema_error():
    schema = {"properties": {"v": {"$ref": "https://example.com/schemas/v.json"}}}
    with pytest.raises(SchemaError):
        validate_frame(one_column(["1"]), schema)


def test_float_multiple_of_divides_exactly_as_python_does():
    # python-jsonschema: failed = int(x / m) != x / m, in plain float division.
    # 8.3 / 0.01 == 830.0 and 8.4 / 0.01 == 840.0 (valid), but 0.3 / 0.1 == 2.9999999999999996,
    # 0.7 / 0.1 == 6.999999999999999 and 1.9 / 0.1 == 18.999999999999996 (invalid).
    hundredths = validate_frame(one_column(["8.0", "8.3", "8.4", "0.3"]), {"properties": {"v": {"multipleOf": 0.01}}})
    tenths = validate_frame(one_column(["0.3", "0.7", "1.9", "0.5"]), {"properties": {"v": {"multipleOf": 0.1}}})
    assert (hundredths.invalid_rows, hundredths.errors_by_column, hundredths.errors) == (0, {}, [])
    assert tenths.invalid_rows == 3
    assert tenths.errors_by_column == {"v": {"multipleOf": 3}}
    assert [(error.row, error.message) for error in tenths.errors] == [
        (2, "0.3 is not a multiple of 0.1"),
        (3, "0.7 is not a multiple of 0.1"),
        (4, "1.9 is not a multiple of 0.1"),
    ]


def test_unevaluated_properties_at_the_row_level():
    schema = {
        "properties": {"a": {"type": "integer"}},
        "allOf": [{"properties": {"b": {"type": "string"}}}],
        "unevaluatedProperties": False,
    }
    frame = pl.DataFrame(
        {"a": ["1", "1", "x"], "b": ["x", "x", ""], "c": ["y", "", "z"]},
        schema={"a": pl.String, "b": pl.String, "c": pl.String},
    )
    report = validate_frame(frame, schema)
    # Row 4: b is empty, so null (b's types come from nothing at the top level); the allOf
    # branch fails on it, and a failed branch evaluates nothing, so b is unevaluated too.
    assert report.errors_by_column == {"": {"unevaluatedProperties": 3}, "a": {"type": 1}, "b": {"type": 1}}
    assert report.invalid_rows == 3
    assert {(error.row, error.column, error.message) for error in report.errors} == {
        (2, None, "Unevaluated properties are not allowed ('c' was unexpected)"),
        (3, None, "Unevaluated properties are not allowed ('c' was unexpected)"),
        (4, None, "Unevaluated properties are not allowed ('b', 'c' were unexpected)"),
        (4, "a", "'x' is not of type 'integer'"),
        (4, "b", "None is not of type 'string'"),
    }


def test_enum_of_whole_rows():
    schema = {"enum": [{"a": 1}, {"a": 2}]}
    report = validate_frame(one_column(["1", "3", "2"], "a"), schema)
    assert report.errors_by_column == {"": {"enum": 1}}
    assert [(error.row, error.column, error.message) for error in report.errors] == [
        (3, None, "{'a': 3} is not one of [{'a': 1}, {'a': 2}]")
    ]


def test_infinite_numeral_under_not_follows_python_jsonschema_short_circuit():
    # "1e400" is the float inf.  Inside `not`, python-jsonschema asks is_valid(), which stops
    # at the first error: maximum fails before the multipleOf in allOf (which would raise on
    # inf) is reached, so the `not` holds and the row is valid.
    schema = {"properties": {"b": {"not": {"maximum": 0, "allOf": [{"multipleOf": 0.5}]}}}}
    report = validate_frame(one_column(["1e400", "-1"], "b"), schema)
    assert report.errors_by_column == {"b": {"not": 1}}
    assert [(error.row, error.keyword) for error in report.errors] == [(3, "not")]


@pytest.mark.parametrize("required_first", [True, False])
@pytest.mark.parametrize("min_properties", [None, 3])  # its message shows the whole row
def test_row_and_cell_errors_come_in_python_jsonschemas_order(required_first: bool, min_properties) -> None:
    from jsonschema import Draft202012Validator

    from airflow_provider_typecheck.validation.cells import ABSENT_VALUE, coerce_text

    properties = {"id": {"type": "integer", "minimum": 1}, "name": {"type": "string", "maxLength": 3},
                  "tag": {"type": ["string", "null"]}}
    keywords = [("required", ["id", "name"]), ("properties", properties), ("minProperties", min_properties),
                ("additionalProperties", False)]
    keywords = [(keyword, value) for keyword, value in keywords if value is not None]
    schema = dict(keywords if required_first else keywords[::-1])
    frame = pl.DataFrame({
        "id": ["0", "", "5", "x", ""] * 3,
        "name": ["toolong", "ab", "", "abcd", ""] * 3,
        "tag": ["", "t", None, "", "u"] * 3,
        "extra": ["", "", "e", "e", ""] * 3,
    })
    allowed = {"id": {"integer"}, "name": {"string"}, "tag": {"string", "null"}, "extra": None}
    validator = Draft202012Validator(schema)
    expected = []
    for number, cells in enumerate(frame.iter_rows(named=True), start=2):
        row = {}
        for name, text in cells.items():
            value = coerce_text(text, frozenset(allowed[name]) if allowed[name] else None)
            if value is not ABSENT_VALUE:
                row[name] = value
        expected += [(number, e.path[0] if e.path else None, e.validator, e.message) for e in validator.iter_errors(row)]
    report = validate_frame(frame, schema, max_errors=10_000)
    assert [(e.row, e.column, e.keyword, e.message) for e in report.errors] == expected
