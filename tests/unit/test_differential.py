"""Differential tests: the vectorised engine against the row-by-row oracle.

Hypothesis draws a schema for a few columns from the keywords the engine
supports, in every draft, and a small frame of cell text chosen to sit on the
edges of the typing contract (numerals and near-numerals, booleans in any
case, valid and invalid formats, trailing newlines, unicode).  The engine must
report exactly what python-jsonschema reports row by row: the same invalid
rows, the same ``errors_by_column`` counts and the same (row, column, keyword)
errors.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from jsonschema.validators import validator_for

from tests.oracle import DECIMAL_NUMERAL, reference_counts, reference_error_set

DRAFTS = {
    4: "http://json-schema.org/draft-04/schema#",
    6: "http://json-schema.org/draft-06/schema#",
    7: "http://json-schema.org/draft-07/schema#",
    2019: "https://json-schema.org/draft/2019-09/schema",
    2020: "https://json-schema.org/draft/2020-12/schema",
}

# A small pool of column names, some of them matched by the patternProperties
# patterns below, so that properties / patternProperties / additionalProperties
# all get to govern columns.
COLUMN_NAMES = ("a", "b", "n_1", "n_2", "is_flag", "Z")
PROPERTY_PATTERNS = ("^n_", "flag$", "^[a-z]$", "_")

TYPES = ("null", "boolean", "integer", "number", "string")
PATTERNS = ("^[a-z]+$", "^(free|pro|team)-[0-9]{2}$", "\\d", "^a", "b$", "[A-Z]{2,}")
FORMATS = ("date", "date-time", "time", "email", "ipv4", "ipv6", "uuid", "uri", "hostname")
BOUNDS = (0, 1, -1, 1.5, 0.1, 150, 2.5, 2**53 + 1, 2**63, 2**64, -(2**63), 1e20)
# Floats like 0.1 have no exact reciprocal: x / 0.1 and x * 10.0 differ, and
# python-jsonschema divides.
INEXACT_FLOAT_MULTIPLES = (0.1, 0.01, 0.07, 1.5)
MULTIPLES = (3, 1, 2**33, 0.5, 0.25, *INEXACT_FLOAT_MULTIPLES)
LITERALS = (None, True, False, 0, 1, 1.0, 1.5, -1, 2**64 + 1, "1", "a", "ab", "free-01", "TRUE", "true", "", "2021-02-28")

CELL_TEXTS = (
    # empty
    "", None,
    # numerals
    "0", "1", "-1", "+5", "007", "3", "6", "42", "150", "151", "-0", "1.0", "1.5", "0.1", "0.3", "-2.5", ".5", "5.",
    "1e3", "2.5E-1", "1e400", "-1e400", "1e-400", str(2**64 + 1), str(-(2**70)), str(10**30), "18446744073709551616.0",
    "0.30000000000000004", "1e20", "100000000000000000000", "0.7", "1.9", "-1.9", "2.3", "4.35", "1e-5", "-0.0", "0.0",
    "2.0", "1.5e2", "3e0", "6E+0", str(2**53 + 1), str(2**63 - 1), str(2**63), str(-(2**63) - 1), str(2**64 - 1),
    # near-numerals
    " 1", "1 ", "1,0", "1,000", "1e", "e1", "0x10", "1_000", "NaN", "inf", "Infinity", "--1", "+", ".", "1\n", "٣",
    # booleans
    "true", "TRUE", "True", "false", "FALSE", "fAlSe", "yes", "t", "true\n",
    # formats
    "2021-02-28", "2021-02-30", "2020-02-29", "2021-13-01", "2021-2-3", "2021-02-28T12:00:00Z",
    "2021-02-28T25:00:00Z", "2021-02-28t12:00:00+01:00", "2021-02-28 12:00:00", "12:00:00Z", "12:00:00",
    "23:59:60Z", "a@b.com", "not-an-email", "@", "192.168.0.1", "256.1.1.1", "01.2.3.4", "::1", "2001:db8::1",
    "12345678-1234-1234-1234-123456789abc", "12345678123412341234123456789abc", "not-a-uuid",
    "https://example.com/x?y=1", "example.com", "a-b.example", "-bad-.com", "mailto:a@b.com", "2021-02-28\n",
    # patterns and lengths
    "free-01", "pro-99", "team-1", "free-01\n", "abc", "ABC", "Ab", "a", "b", "ab", "ab\n", "a\nb", "é", "日本語",
    "🙂", "x" * 12, "AB1",
)  # fmt: skip

MAX_ERRORS = 1_000_000


# ---------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------


def _definitions_keyword(draft: int) -> str:
    return "definitions" if draft < 2019 else "$defs"


def _json_key(value):
    """Equal keys for values JSON Schema deems equal (1 == 1.0, but true != 1), as enum must be unique."""
    if isinstance(value, bool) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("string", value)


@st.composite
def type_keyword(draw):
    if draw(st.booleans()):
        return draw(st.sampled_from(TYPES))
    return draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))


@st.composite
def leaf_keywords(draw, draft: int) -> dict:
    """A few validation keywords for one cell."""
    schema: dict = {}
    names = draw(
        st.lists(
            st.sampled_from(
                ("type", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                 "multipleOf", "minLength", "maxLength", "pattern", "format")
            ),
            max_size=3,
            unique=True,
        )
    )  # fmt: skip
    for name in names:
        if name == "type":
            schema["type"] = draw(type_keyword())
        elif name == "enum":
            schema["enum"] = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4, unique_by=_json_key))
        elif name == "const":
            if draft >= 6:
                schema["const"] = draw(st.sampled_from(LITERALS))
        elif name in ("minimum", "maximum"):
            schema[name] = draw(st.sampled_from(BOUNDS))
        elif name in ("exclusiveMinimum", "exclusiveMaximum"):
            if draft == 4:
                # Draft 4: a boolean modifier of its minimum/maximum, which must be present.
                bound = "minimum" if name == "exclusiveMinimum" else "maximum"
                schema.setdefault(bound, draw(st.sampled_from(BOUNDS)))
                schema[name] = draw(st.booleans())
            else:
                schema[name] = draw(st.sampled_from(BOUNDS))
        elif name == "multipleOf":
            schema["multipleOf"] = draw(st.sampled_from(MULTIPLES))
        elif name in ("minLength", "maxLength"):
            schema[name] = draw(st.integers(0, 4))
        elif name == "pattern":
            schema["pattern"] = draw(st.sampled_from(PATTERNS))
        elif name == "format":
            schema["format"] = draw(st.sampled_from(FORMATS))
    return schema


@st.composite
def cell_schema(draw, draft: int, depth: int = 0) -> dict | bool:
    """The schema of one column: leaf keywords, maybe combined with applicators."""
    if draft >= 6 and draw(st.integers(0, 20)) == 0:
        return draw(st.booleans())  # boolean schemas exist from draft 6 on
    schema = draw(leaf_keywords(draft))
    if depth >= 2:
        return schema
    applicators = draw(
        st.lists(st.sampled_from(("allOf", "anyOf", "oneOf", "not", "if", "$ref")), max_size=2, unique=True)
    )
    for name in applicators:
        if name in ("allOf", "anyOf", "oneOf"):
            schema[name] = draw(st.lists(cell_schema(draft, depth + 1), min_size=1, max_size=3))
        elif name == "not":
            schema["not"] = draw(cell_schema(draft, depth + 1))
        elif name == "if":
            # Before draft 7 these are unknown keywords, which must be ignored.
            schema["if"] = draw(cell_schema(draft, depth + 1))
            if draw(st.booleans()):
                schema["then"] = draw(cell_schema(draft, depth + 1))
            if draw(st.booleans()):
                schema["else"] = draw(cell_schema(draft, depth + 1))
        elif name == "$ref":
            schema["$ref"] = f"#/{_definitions_keyword(draft)}/{draw(st.sampled_from(('d1', 'd2')))}"
    return schema


@st.composite
def object_keywords(draw, draft: int) -> dict:
    """Keywords on the row object itself."""
    schema: dict = {}
    names = draw(
        st.lists(
            st.sampled_from(
                ("required", "required", "additionalProperties", "patternProperties", "propertyNames",
                 "minProperties", "maxProperties", "dependencies", "combinator", "if")
            ),
            max_size=4,
            unique=True,
        )
    )  # fmt: skip
    names_strategy = st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=3, unique=True)
    for name in names:
        if name == "required":
            schema["required"] = draw(names_strategy)
        elif name == "additionalProperties":
            schema["additionalProperties"] = draw(st.one_of(st.just(False), cell_schema(draft, 1)))  # false is valid in draft 4 too
        elif name == "patternProperties":
            patterns = draw(st.lists(st.sampled_from(PROPERTY_PATTERNS), min_size=1, max_size=2, unique=True))
            schema["patternProperties"] = {pattern: draw(cell_schema(draft, 1)) for pattern in patterns}
        elif name == "propertyNames" and draft >= 6:
            schema["propertyNames"] = draw(
                st.sampled_from(
                    (
                        {"pattern": "^[a-z_0-9]+$"},
                        {"maxLength": 1},
                        {"enum": ["a", "b", "n_1"]},
                        {"not": {"const": "Z"}},
                        {"pattern": "^n_"},
                    )
                )
            )
        elif name in ("minProperties", "maxProperties"):
            schema[name] = draw(st.integers(0, 4))
        elif name == "dependencies":
            source = draw(st.sampled_from(COLUMN_NAMES))
            keyword = "dependencies" if draft < 2019 else "dependentRequired"
            schema[keyword] = {source: draw(names_strategy)}
        elif name == "combinator":
            keyword = draw(st.sampled_from(("allOf", "anyOf", "oneOf", "not")))
            branches = draw(
                st.lists(
                    st.one_of(
                        names_strategy.map(lambda required: {"required": required}),
                        st.builds(lambda column, sub: {"properties": {column: sub}},
                                  st.sampled_from(COLUMN_NAMES), cell_schema(draft, 1)),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )  # fmt: skip
            schema[keyword] = branches[0] if keyword == "not" else branches
        elif name == "if":
            column = draw(st.sampled_from(COLUMN_NAMES))
            schema["if"] = {"properties": {column: draw(cell_schema(draft, 1))}, "required": [column]}
            schema["then"] = {"required": draw(names_strategy)}
            if draw(st.booleans()):
                schema["else"] = {"properties": {draw(st.sampled_from(COLUMN_NAMES)): draw(cell_schema(draft, 1))}}
    return schema


@st.composite
def row_schema(draw) -> dict:
    draft = draw(st.sampled_from(tuple(DRAFTS)))
    definitions = _definitions_keyword(draft)
    schema: dict = {"$schema": DRAFTS[draft]}
    if draw(st.integers(0, 4)):
        schema["type"] = "object"
    governed = draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=4, unique=True))
    schema["properties"] = {column: draw(cell_schema(draft)) for column in governed}
    schema.update(draw(object_keywords(draft)))
    # d2 may point at d1, never back: a $ref cycle would make python-jsonschema recurse forever.
    d1 = draw(leaf_keywords(draft))
    d2 = draw(leaf_keywords(draft))
    if draw(st.booleans()):
        d2 = {"anyOf": [d2, {"$ref": f"#/{definitions}/d1"}]}
    schema[definitions] = {"d1": d1, "d2": d2}
    return schema


@st.composite
def decimal_numerals(draw) -> str:
    """Short decimal numerals such as "-1.9" or "4.35", where float multipleOf and bounds are delicate."""
    whole = draw(st.integers(-30, 30))
    fraction = draw(st.integers(0, 99))
    return f"{whole}.{fraction:0{draw(st.integers(1, 2))}d}"


@st.composite
def frames(draw) -> pl.DataFrame:
    columns = draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=4, unique=True))
    height = draw(st.integers(1, 8))
    cell = st.one_of(
        st.sampled_from(CELL_TEXTS),
        st.sampled_from(CELL_TEXTS),
        st.integers(-(2**70), 2**70).map(str),
        decimal_numerals(),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(max_size=6),
    )
    return pl.DataFrame(
        {column: draw(st.lists(cell, min_size=height, max_size=height)) for column in columns},
        schema={column: pl.String for column in columns},
    )


@st.composite
def repetitive_frames(draw) -> pl.DataFrame:
    """Longer frames drawn from a few distinct cells per column, in random order.

    The engine takes other paths on long and repetitive columns (checks once per
    distinct value, rare rows handed to python-jsonschema); short frames miss them.
    """
    columns = draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=3, unique=True))
    height = draw(st.integers(20, 400))
    data = {}
    for column in columns:
        pool = draw(st.lists(st.one_of(st.sampled_from(CELL_TEXTS), decimal_numerals()), min_size=1, max_size=6))
        picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=height))
        data[column] = [pool[picks[row % len(picks)]] for row in range(height)]
    return pl.DataFrame(data, schema={column: pl.String for column in columns})


# ---------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------


def _has_float_multiple_of(schema: object) -> bool:
    if isinstance(schema, dict):
        if isinstance(schema.get("multipleOf"), float):
            return True
        return any(_has_float_multiple_of(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_has_float_multiple_of(value) for value in schema)
    return False


def _has_infinite_numeral(frame: pl.DataFrame) -> bool:
    return any(
        text and DECIMAL_NUMERAL.fullmatch(text) and math.isinf(float(text))
        for column in frame.columns
        for text in frame[column].to_list()
    )


def assert_engine_matches_oracle(frame: pl.DataFrame, schema: dict) -> None:
    from airflow_provider_typecheck.validation import validate_frame

    validator_for(schema).check_schema(schema)
    # python-jsonschema raises on a float multipleOf of an infinite number ("1e400"),
    # unless an earlier keyword already failed and is_valid() stopped short (under
    # not/anyOf/oneOf/if), so its verdict there hangs on keyword order.
    # test_engine_contract pins that case; random draws leave it out.
    assume(not (_has_float_multiple_of(schema) and _has_infinite_numeral(frame)))
    note(f"schema = {json.dumps(schema)}")
    note(f"frame = {frame.to_dict(as_series=False)!r}")
    rows = frame.to_dicts()
    try:
        counts, invalid = reference_counts(rows, schema)
        expected_errors = reference_error_set(rows, schema)
    except OverflowError:  # python-jsonschema crashed: there is no verdict to compare with
        assume(False)
        raise
    note(f"oracle errors = {sorted(expected_errors, key=repr)}")

    report = validate_frame(frame, schema, max_errors=MAX_ERRORS)
    got_errors = {(error.row, error.column, error.keyword) for error in report.errors}
    note(f"engine errors = {sorted(got_errors, key=repr)}")
    note(f"engine fallback keywords = {report.fallback_keywords}")

    assert report.total_rows == frame.height
    assert report.errors_by_column == counts
    assert report.invalid_rows == len(invalid)
    assert report.valid_rows == frame.height - len(invalid)
    assert {error.row for error in report.errors} == invalid
    assert got_errors == expected_errors
    assert not report.errors_truncated
    assert_file_report_matches(frame, schema, report)


def assert_file_report_matches(frame: pl.DataFrame, schema: dict, expected) -> None:
    """The same rows written to a CSV file (where the native pre-scan runs) give the same report."""
    from airflow_provider_typecheck.validation import validate_file

    texts = [text for column in frame.iter_columns() for text in column.fill_null("").to_list()]
    if frame.width == 0 or any("\x00" in text for text in texts):
        return  # a file with NUL bytes is refused as binary
    if frame.width == 1 and any(text == "" for text in texts):
        return  # an empty cell alone on its line is a blank line: the CSV reader's own rule
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frame.csv"
        frame.write_csv(path)
        report = validate_file(path, schema, max_errors=MAX_ERRORS)
    assert report.total_rows == expected.total_rows
    assert report.errors_by_column == expected.errors_by_column
    assert report.invalid_rows == expected.invalid_rows
    assert [error.to_dict() for error in report.errors] == [error.to_dict() for error in expected.errors]


DIFFERENTIAL = settings(
    max_examples=int(os.environ.get("TYPECHECK_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@DIFFERENTIAL
@given(data=st.data())
def test_column_keywords_match_the_oracle(data):
    """Only per-column keywords under ``properties``: the heart of the vectorised engine."""
    draft = data.draw(st.sampled_from(tuple(DRAFTS)), label="draft")
    frame = data.draw(frames(), label="frame")
    properties = {column: data.draw(leaf_keywords(draft), label=column) for column in frame.columns}
    schema = {"$schema": DRAFTS[draft], "type": "object", "properties": properties}
    assert_engine_matches_oracle(frame, schema)


@DIFFERENTIAL
@given(frame=frames(), schema=row_schema())
def test_whole_schemas_match_the_oracle(frame, schema):
    assert_engine_matches_oracle(frame, schema)


@settings(DIFFERENTIAL, max_examples=60)
@given(frame=repetitive_frames(), schema=row_schema())
def test_long_repetitive_frames_match_the_oracle(frame, schema):
    assert_engine_matches_oracle(frame, schema)


@DIFFERENTIAL
@given(data=st.data())
def test_combinators_and_refs_match_the_oracle(data):
    """Nested allOf/anyOf/oneOf/not/if/$ref, where type unions decide how cells are read."""
    draft = data.draw(st.sampled_from(tuple(DRAFTS)), label="draft")
    frame = data.draw(frames(), label="frame")
    definitions = _definitions_keyword(draft)
    schema = {
        "$schema": DRAFTS[draft],
        "properties": {column: data.draw(cell_schema(draft), label=column) for column in frame.columns},
        definitions: {"d1": data.draw(leaf_keywords(draft)), "d2": data.draw(leaf_keywords(draft))},
    }
    assert_engine_matches_oracle(frame, schema)


@DIFFERENTIAL
@given(data=st.data())
def test_inexact_float_multiple_of_matches_the_oracle(data):
    """multipleOf 0.1 and friends: python-jsonschema checks ``int(x / m) == x / m`` in plain float division.

    Polars computes ``column / scalar`` as a multiplication by the reciprocal
    (8.3 / 0.01 gives 830.0000000000001, Python 830.0), which this catches.
    """
    draft = data.draw(st.sampled_from(tuple(DRAFTS)), label="draft")
    height = data.draw(st.integers(3, 12), label="height")
    texts = data.draw(st.lists(decimal_numerals(), min_size=height, max_size=height), label="cells")
    frame = pl.DataFrame({"v": texts}, schema={"v": pl.String})
    multiple = data.draw(st.sampled_from(INEXACT_FLOAT_MULTIPLES), label="multipleOf")
    schema = {"$schema": DRAFTS[draft], "type": "object", "properties": {"v": {"multipleOf": multiple}}}
    assert_engine_matches_oracle(frame, schema)


@DIFFERENTIAL
@given(data=st.data())
def test_row_level_unevaluated_properties_match_the_oracle(data):
    """unevaluatedProperties on the row: what counts as evaluated depends on which branches passed."""
    draft = data.draw(st.sampled_from((2019, 2020)), label="draft")
    frame = data.draw(frames(), label="frame")
    governed = data.draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=3, unique=True), label="properties")
    schema = {
        "$schema": DRAFTS[draft],
        "properties": {column: data.draw(cell_schema(draft, 1)) for column in governed},
        "unevaluatedProperties": data.draw(st.one_of(st.just(False), cell_schema(draft, 1)), label="unevaluated"),
    }
    if data.draw(st.booleans(), label="with a combinator"):
        keyword = data.draw(st.sampled_from(("allOf", "anyOf", "oneOf")))
        schema[keyword] = [
            {"properties": {data.draw(st.sampled_from(COLUMN_NAMES)): data.draw(cell_schema(draft, 1))}}
            for _ in range(data.draw(st.integers(1, 2)))
        ]
    schema.update(data.draw(object_keywords(draft), label="object keywords"))
    # Cell schemas may $ref the shared definitions.
    schema["$defs"] = {"d1": data.draw(leaf_keywords(draft)), "d2": data.draw(leaf_keywords(draft))}
    assert_engine_matches_oracle(frame, schema)


# Keywords the native pre-scan checks itself (format: email and date).
SCANNED_KEYWORDS = frozenset({"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                              "maxLength"})


@st.composite
def scanned_leaf(draw, draft: int) -> dict:
    """Leaf keywords, mostly those the pre-scan checks natively (so the scan runs on the file)."""
    leaf = draw(leaf_keywords(draft))
    if draw(st.integers(0, 3)):
        leaf = {name: value for name, value in leaf.items() if name in SCANNED_KEYWORDS
                or (name == "format" and value in ("email", "date"))}
    return leaf


@st.composite
def normalisable_schema(draw, draft: int, columns: list[str]) -> dict:
    """A schema in a shape the pre-scan normalises to flat ``properties``, or nearly so: a root
    ``allOf`` (conflicting types, an ``additionalProperties`` that forbids another branch's
    columns), ``$ref``s to definitions (siblings ignored by drafts 4-7, chains), a root
    ``$ref``, nullable ``type`` lists with ``enum``/``const``. Draft 4 brings its boolean
    ``exclusiveMinimum``/``exclusiveMaximum`` (false too) through the leaves."""
    definitions = _definitions_keyword(draft)
    names = st.lists(st.sampled_from(columns), min_size=1, max_size=len(columns), unique=True)

    def leaf() -> dict:
        return draw(st.one_of(scanned_leaf(draft), scanned_leaf(draft), leaf_keywords(draft)))

    schema: dict = {"$schema": DRAFTS[draft]}
    properties = {column: leaf() for column in columns if draw(st.integers(0, 5))}
    required = draw(st.one_of(st.just([]), names))
    shape = draw(st.sampled_from(("allOf", "$ref", "root $ref", "nullable")), label="shape")
    if shape == "allOf":
        branches = []
        for _ in range(draw(st.integers(1, 3))):
            branch: dict = {"properties": {column: leaf() for column in columns if draw(st.booleans())}}
            if draw(st.booleans()):
                branch["type"] = draw(st.sampled_from(("object", ["object", "null"], ["string", "object"])))
            if draw(st.booleans()):
                branch["required"] = draw(names)
            if draw(st.integers(0, 4)) == 0:
                branch["additionalProperties"] = draw(st.one_of(st.booleans(), scanned_leaf(draft)))
            if draw(st.integers(0, 4)) == 0:
                branch = {"allOf": [branch]}  # nested
            branches.append(branch)
        schema["allOf"] = branches
        if draw(st.booleans()):
            schema["properties"] = properties
    elif shape == "$ref":
        targets: dict = {}
        for column, sub in properties.items():
            targets[column] = sub
            ref = f"#/{definitions}/{column}"
            if draw(st.integers(0, 3)) == 0:  # a chain of two
                targets[f"{column}_via"] = {"$ref": ref}
                ref = f"#/{definitions}/{column}_via"
            properties[column] = {"$ref": ref}
            if draw(st.integers(0, 2)) == 0:  # siblings: ignored by drafts 4-7, applied by 2019-09 on
                properties[column].update(draw(scanned_leaf(draft)))
        schema[definitions] = targets
        schema["properties"] = properties
    elif shape == "root $ref":
        row: dict = {"type": "object", "properties": properties}
        if required:
            row["required"] = required
        schema["$ref"] = f"#/{definitions}/row"
        schema[definitions] = {"row": row}
        if draw(st.booleans()):  # siblings of the root's $ref
            schema["required"] = draw(names)
    else:
        for sub in properties.values():
            declared = sub.get("type", draw(st.sampled_from(TYPES)))
            sub["type"] = list(dict.fromkeys([*([declared] if isinstance(declared, str) else declared), "null"]))
            if draw(st.booleans()):
                if draft >= 6 and draw(st.booleans()):
                    sub["const"] = draw(st.sampled_from((None, *LITERALS)))
                else:
                    members = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=3, unique_by=_json_key))
                    sub["enum"] = list({_json_key(v): v for v in [None, *members]}.values())
        schema["properties"] = properties
    if required and shape != "root $ref":
        schema["required"] = required
    return schema


@DIFFERENTIAL
@given(data=st.data())
def test_schemas_the_prescan_normalises_match_the_oracle(data):
    """Root allOf, $ref to definitions, a root $ref, draft-04 bounds, nullable types: the pre-scan
    plans from a flat form of these (see validation/normalise.py); verdicts, counts and messages
    must stay python-jsonschema's on the original schema, in memory and from a file."""
    draft = data.draw(st.sampled_from(tuple(DRAFTS)), label="draft")
    frame = data.draw(frames(), label="frame")
    schema = data.draw(normalisable_schema(draft, frame.columns), label="schema")
    assert_engine_matches_oracle(frame, schema)


@settings(max_examples=100, deadline=None)
@given(schema=row_schema())
def test_the_strategies_make_valid_schemas(schema):
    """Every drawn schema passes its metaschema, so failures above are never about invalid schemas."""
    validator_for(schema).check_schema(schema)
