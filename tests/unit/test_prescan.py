"""The native pre-scan (``prescan.py`` / ``_prescan.c``) against the ordinary path and python-jsonschema.

The pre-scan clears, straight from a CSV's bytes, the rows it can prove
valid; only its suspects reach the Polars engine. It may call a valid row a
suspect, never clear an invalid one, and it must decline (``NotScannable``)
the file shapes it does not handle, so that the ordinary path reads them.
Every test here therefore compares the report of ``validate_file`` with the
pre-scan against the report of the ordinary path (the pre-scan switched off),
and, where it says so, against python-jsonschema row by row on rows read by
Python's csv module, independently of Polars and of the engine.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from airflow_provider_typecheck.validation import prescan, validate_file
from airflow_provider_typecheck.validation.engine import CompiledSchema, planning, runners, verdicts
from airflow_provider_typecheck.validation.engine.explain import UNEVALUABLE
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.readers import open_table
from airflow_provider_typecheck.validation.schema import json_pointer
from tests.oracle import allowed_types, coerce_cell, reference_validator

pytestmark = pytest.mark.skipif(not prescan.available(), reason="the native pre-scan is not built (make env)")

DRAFTS = {
    7: "http://json-schema.org/draft-07/schema#",
    2020: "https://json-schema.org/draft/2020-12/schema",
}
TYPES = ("null", "boolean", "integer", "number", "string")
# Bounds equal to cells below (5 = "+5" = "5." = "5.0", 1000.0 = "1e3", 0 = "-0" = "0e500", 7 = "007",
# 0.5 = ".5"), and two beyond 2**53, which the scan cannot compare exactly (it then declines the schema).
BOUNDS = (0, 5, 7, -5, 1000, 1000.0, 100000, 0.5, 1.5, -2.5, 2.0, 0.1, 999999999999999, 2**53, 2**53 + 1, 1e22)
EXACT_BOUND = 2**53
LITERALS = (None, True, False, 0, 5, 1.5, 7, "a@b.c", "é", "2024-02-29", "true", "x", "")
# Patterns Polars runs itself: one it cannot (\\w, lookaround) changes fallback_keywords, which has its own test.
PATTERNS = ("^[a-z]+$", "@", "^2024-", "\\d", "^.{2}$", "🙂")
MULTIPLES = (1, 2, 0.5, 0.1, 3)
NATIVE_KEYWORDS = ("type", "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                   "maxLength", "format")
OTHER_KEYWORDS = ("enum", "const", "pattern", "multipleOf")

NUMERALS = (
    "0", "5", "+5", "-5", "-0", "007", "5.", ".5", "-.5", "+.5", "0.5", "1.5", "-2.5", "2.0", "5.0", "0.1",
    "1e3", "1E+05", "1e-3", "2.5E-1", "5.e0", "1e22", "1e23", "1e400", "-1e400", "0e500", "1e-400", "1000",
    "100000", "7", "999999999999999", "-999999999999999", "1234567890123456", "12345678901234567",
    "9007199254740993", "99999999999999999999", "-12345678901234567890", "00000000000000000005",
    "0.30000000000000004", "123456789012345.6", "1e0000000000000000003",
)  # fmt: skip
WORDS = (
    "true", "TRUE", "True", "tRuE", "false", "FALSE", "False", "fAlSe", "inf", "-inf", "nan", "NaN",
    "Infinity", "null", "yes", " 5", "5 ", "1e", ".", "+", "0x10", "1_000", "١",
)  # fmt: skip
DATES = (
    "2024-02-29", "2023-02-29", "0000-01-01", "0001-01-01", "2024-13-01", "2024-00-10", "2024-01-31",
    "2024-04-31", "2000-02-29", "1900-02-29", "2024-1-01", "2024-02-29T00:00:00", "2024-02-29\n",
)  # fmt: skip
TEXTS = (
    "a@b.c", "@", "no-at", "x", "ab", "abc", "abcd", "é", "éé", "漢字", "🙂", "🙂🙂🙂", "aé漢🙂", "e\u0301",
    "a,b", "line1\nline2", 'say "hi"', '"', '""', "a\r\nb", "x\r", ",", "\n", "1\n", "x@y,\n\"z\"",
)  # fmt: skip
CELLS = ("",) + NUMERALS + WORDS + DATES + TEXTS
# Cells drawn for generated files: empty about one time in ten (required, nullable, absent).
DRAWN_CELLS = ("",) * 12 + CELLS


# --------------------------------------------------------------------------- writing files


def render(text: str, quoted: bool = False) -> str:
    """One CSV field: quoted when asked or when the text needs it."""
    if quoted or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], *, crlf: bool = False, bom: bool = False,
    final_newline: bool = True, quoted: list[list[bool]] | None = None,
) -> Path:
    ending = "\r\n" if crlf else "\n"
    lines = [",".join(header)]
    for index, row in enumerate(rows):
        flags = quoted[index] if quoted else [False] * len(row)
        # A lone empty cell would be a blank line, which the scan rightly declines: quote it.
        flags = [flag or (len(row) == 1 and text == "") for flag, text in zip(flags, row, strict=True)]
        lines.append(",".join(render(text, flag) for text, flag in zip(row, flags, strict=True)))
    text = ending.join(lines) + (ending if final_newline else "")
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


# --------------------------------------------------------------------------- the two paths


@dataclass
class ScanLog:
    """What the pre-scan did during one validation."""

    calls: int = 0
    rules: list[tuple[Any, ...]] = field(default_factory=list)  # the column rules of the last call
    segments: list[prescan.Segment] = field(default_factory=list)
    declined: bool = False

    @property
    def ran(self) -> bool:
        return self.calls > 0 and not self.declined and bool(self.segments)


@contextmanager
def watching_scan(**forced: Any) -> Iterator[ScanLog]:
    """Record every call of ``prescan.scan`` (with ``forced`` keyword arguments added)."""
    log = ScanLog()
    original = prescan.scan

    def watched(data: Any, delimiter: str, rules: list[tuple[Any, ...]], *args: Any, **kwargs: Any) -> Iterator[Any]:
        log.calls += 1
        log.rules = rules
        try:
            for segment in original(data, delimiter, rules, *args, **kwargs | forced):
                log.segments.append(segment)
                yield segment
        except prescan.NotScannable:
            log.declined = True
            raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prescan, "scan", watched)
        yield log


def with_prescan(path: Path, schema: dict, **kwargs: Any) -> tuple[Any, ScanLog]:
    """``validate_file`` as shipped (pre-scan on), and what the pre-scan did."""
    with watching_scan() as log:
        report = validate_file(path, CompiledSchema(schema), **kwargs)
    return report, log


def ordinary(path: Path, schema: dict, **kwargs: Any) -> Any:
    """``validate_file`` with the pre-scan switched off: every row read and checked by the engine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prescan, "available", lambda: False)
        return validate_file(path, CompiledSchema(schema), **kwargs)


def comparable(report: Any) -> dict[str, Any]:
    """Everything a report says but its timing: counts, errors_by_column, the error list, warnings."""
    data = report.to_dict()
    del data["elapsed_seconds"]
    return data


def outcome(run: Any) -> Any:
    """A report as comparable data, or the error validating raised (a file Polars cannot read)."""
    try:
        return comparable(run())
    except ReadError as err:
        return ("ReadError", str(err))


def assert_same_report(path: Path, schema: dict, **kwargs: Any) -> tuple[Any, ScanLog]:
    """The pre-scan path and the ordinary path give the same report (or the same error), and
    the same ``invalid_out`` file; returns the former (None for an error) and what the pre-scan did."""
    with watching_scan() as log:
        report = None
        try:
            report = validate_file(path, CompiledSchema(schema), **kwargs)
            result = comparable(report)
        except ReadError as err:
            result = ("ReadError", str(err))
    invalid_out = kwargs.get("invalid_out")
    if invalid_out is not None:
        kwargs["invalid_out"] = Path(invalid_out).with_suffix(".ordinary" + Path(invalid_out).suffix)
    assert result == outcome(partial(ordinary, path, schema, **kwargs))
    if invalid_out is not None and report is not None:
        assert Path(invalid_out).read_text() == kwargs["invalid_out"].read_text()
    return report, log


def schema_parts(path: Path, schema: dict) -> tuple[CompiledSchema, Any, Any, list[tuple[Any, ...]] | None]:
    """What the engine hands the scan for this file: compiled schema, table, cells, column rules."""
    compiled = CompiledSchema(schema)
    table = open_table(path)
    repetitive = planning.repetitive_columns(table.csv.head(planning.SAMPLE_ROWS))
    cells = compiled.cells(table.header, repetitive)
    return compiled, table, cells, prescan.column_rules(compiled.schema, compiled.validator, cells, lambda: repetitive)


def scan_file(path: Path, schema: dict, *, segment_bytes: int | None = None, **kwargs: Any) -> list[prescan.Segment]:
    """``prescan.scan`` called directly on a file, as the engine calls it, ``segment_bytes`` at a time."""
    compiled, table, cells, rules = schema_parts(path, schema)
    assert rules is not None
    with pytest.MonkeyPatch.context() as patch, table.csv.mapped() as data:
        if segment_bytes is not None:
            patch.setattr(prescan, "SEGMENT_BYTES", segment_bytes)
        return list(prescan.scan(data, table.csv.delimiter, rules, compiled.schema, compiled.validator, cells,
                                 **kwargs))


def suspects_of(segments: list[prescan.Segment]) -> list[int]:
    return [index for segment in segments for index in segment.suspects]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- python-jsonschema directly


def reference(path: Path, schema: dict, max_errors: int = 1000) -> dict[str, Any]:
    """What python-jsonschema says of each row, the file read by Python's csv module (not Polars).

    Rows are coerced by the test oracle (tests/oracle.py, written from the typing contract alone).
    """
    validator = reference_validator(schema)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, *records = list(csv.reader(handle))
    allowed = [allowed_types(name, schema) for name in header]
    invalid: set[int] = set()
    counts: dict[str, Counter[str]] = {}
    errors: list[dict[str, Any]] = []
    verdicts: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}  # repeated rows are validated once
    for number, texts in enumerate(records, start=2):
        if tuple(texts) not in verdicts:
            row = {}
            for name, text, types in zip(header, texts, allowed, strict=True):
                present, value = coerce_cell(text, types)
                if present:
                    row[name] = value
            try:
                found = [(tuple(e.path), e.validator, e.message) for e in validator.iter_errors(row)]
            except (ArithmeticError, ValueError) as err:
                found = [((), UNEVALUABLE, f"python-jsonschema cannot evaluate this row: {err}")]
            verdicts[tuple(texts)] = found
        for error_path, keyword, message in verdicts[tuple(texts)]:
            invalid.add(number)
            column = str(error_path[0]) if error_path else None
            counts.setdefault(column if column is not None else "", Counter())[keyword] += 1
            errors.append({
                "row": number, "column": column, "path": json_pointer(error_path), "keyword": keyword,
                "value": texts[header.index(column)] if column in header else None, "message": message,
            })
    return {
        "rows": len(records), "invalid": invalid, "errors": errors[:max_errors],
        "errors_by_column": {column: dict(by_keyword) for column, by_keyword in counts.items()},
    }


def without_empty_values(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Polars reads an unquoted empty cell as null, csv as "": the same empty cell."""
    return [error | {"value": error["value"] or None} for error in errors]


# --------------------------------------------------------------------------- generated schemas and files


@st.composite
def property_schema(draw: Any, draft: int, other_keywords: bool) -> dict | bool:
    """One column's subschema: mostly keywords the scan checks natively, sometimes others."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.sampled_from([True, {}, {"title": "free text"}]))
    pool = NATIVE_KEYWORDS + (OTHER_KEYWORDS if other_keywords else ())
    schema: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(pool), max_size=3, unique=True)):
        if name == "type":
            schema["type"] = draw(st.one_of(
                st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)))
        elif name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            schema[name] = draw(st.sampled_from(BOUNDS))
        elif name in ("minLength", "maxLength"):
            schema[name] = draw(st.integers(0, 4))
        elif name == "format":
            schema["format"] = draw(st.sampled_from(("email", "date")))
        elif name == "enum":
            schema["enum"] = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4,
                                           unique_by=lambda v: json.dumps(v)))
        elif name == "const":
            schema["const"] = draw(st.sampled_from(LITERALS))
        elif name == "pattern":
            schema["pattern"] = draw(st.sampled_from(PATTERNS))
        elif name == "multipleOf":
            schema["multipleOf"] = draw(st.sampled_from(MULTIPLES))
    return schema


@st.composite
def flat_schema(draw: Any, columns: list[str], other_keywords: bool) -> dict:
    draft = draw(st.sampled_from(sorted(DRAFTS)))
    schema: dict[str, Any] = {"$schema": DRAFTS[draft], "type": "object"}
    # Mostly every column has a subschema; sometimes one is left to additionalProperties.
    named = draw(st.lists(st.sampled_from(columns), min_size=len(columns) - 1, max_size=len(columns), unique=True))
    schema["properties"] = {name: draw(property_schema(draft, other_keywords)) for name in columns if name in named}
    required = draw(st.lists(st.sampled_from(columns), max_size=len(columns), unique=True))
    if required:
        schema["required"] = required
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.booleans())
    return schema


def scannable(schema: dict, columns: list[str], repetitive: bool) -> bool:
    """Whether the scan must run on a well-formed file for this schema (written from prescan's docs)."""
    properties = schema["properties"]
    if schema.get("additionalProperties") is False and set(columns) - set(properties):
        return False
    for subschema in properties.values():
        if not isinstance(subschema, dict):
            continue
        if repetitive:
            continue  # a column the scan cannot check natively is interned instead
        if set(subschema) & set(OTHER_KEYWORDS):
            return False
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if abs(subschema.get(keyword, 0)) > EXACT_BOUND:
                return False
    return True


@dataclass
class Case:
    columns: list[str]
    schema: dict
    rows: list[list[str]]
    quoted: list[list[bool]]
    crlf: bool
    bom: bool
    final_newline: bool
    repetitive: bool

    def write(self, path: Path) -> Path:
        return write_csv(path, self.columns, self.rows, crlf=self.crlf, bom=self.bom,
                         final_newline=self.final_newline, quoted=self.quoted)


@st.composite
def small_case(draw: Any) -> Case:
    """Up to 30 rows, each column drawing its cells from a few tricky texts (so whole rows can pass)."""
    columns = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    schema = draw(flat_schema(columns, other_keywords=draw(st.integers(0, 3)) == 0))
    pools = [draw(st.lists(st.sampled_from(DRAWN_CELLS), min_size=1, max_size=4)) for _ in columns]
    height = draw(st.integers(1, 30))  # header-only files have their own tests
    rows = [[draw(st.sampled_from(pool)) for pool in pools] for _ in range(height)]
    quoted = [[draw(st.integers(0, 5)) == 0 for _ in columns] for _ in range(height)]
    return Case(columns, schema, rows, quoted, draw(st.booleans()), draw(st.integers(0, 4)) == 0,
                draw(st.integers(0, 4)) != 0, repetitive=False)


@st.composite
def repetitive_case(draw: Any) -> Case:
    """1,000 to 1,150 rows repeating a few values per column: every column is interned (DICT) if not native."""
    columns = [f"c{i}" for i in range(draw(st.integers(1, 4)))]
    schema = draw(flat_schema(columns, other_keywords=True))
    pools = [draw(st.lists(st.sampled_from(DRAWN_CELLS), min_size=1, max_size=5)) for _ in columns]
    rng = random.Random(draw(st.integers(0, 2**32)))
    height = rng.randint(1000, 1150)
    rows = [[rng.choice(pool) for pool in pools] for _ in range(height)]
    quoted = [[rng.random() < 0.1 for _ in columns] for _ in range(height)]
    return Case(columns, schema, rows, quoted, draw(st.booleans()), draw(st.integers(0, 4)) == 0,
                draw(st.booleans()), repetitive=True)


def labels_as_sets(invalid_out: Path) -> list[dict[str, Any]]:
    return [row | {"_errors": frozenset(row["_errors"].split("; "))} for row in read_rows(invalid_out)]


def check_case(case: Case, path: Path, *, must_scan: bool | None = None, reshaped: bool = False) -> None:
    """``must_scan``: whether the scan must run (None: as :func:`scannable` says of a flat schema);
    ``reshaped``: the schema is not flat (see :func:`reshape`)."""
    note(json.dumps(case.schema))
    case.write(path)
    invalid_scanned, invalid_ordinary = path.with_name("bad-scan.csv"), path.with_name("bad-ordinary.csv")
    scanned, log = with_prescan(path, case.schema, invalid_out=invalid_scanned)
    expected = ordinary(path, case.schema, invalid_out=invalid_ordinary)
    if must_scan is None:
        must_scan = scannable(case.schema, case.columns, case.repetitive)
    event(f"scan ran: {log.ran}; scannable schema: {must_scan}")
    event(f"interned columns: {any(rule[0] == prescan.DICT for rule in log.rules)}")

    # The pre-scan path reports exactly what the ordinary path reports, and writes the same quarantine.
    assert comparable(scanned) == comparable(expected)
    if reshaped:
        # A keyword twice on one column ($ref and a sibling, two allOf branches): a row's labels
        # come in python-jsonschema's order row by row, in the plan's order when vectorised.
        assert labels_as_sets(invalid_scanned) == labels_as_sets(invalid_ordinary)
    else:
        assert invalid_scanned.read_bytes() == invalid_ordinary.read_bytes()
    # A well-formed file is never declined, and a schema the scan handles is scanned.
    assert not log.declined
    if must_scan:
        assert log.ran
        assert sum(segment.rows for segment in log.segments) == len(case.rows)

    # And python-jsonschema, row by row, on rows Python's csv module read, agrees.
    truth = reference(path, case.schema)
    assert scanned.total_rows == truth["rows"] == len(case.rows)
    assert scanned.invalid_rows == len(truth["invalid"])
    assert {int(row["_row"]) for row in read_rows(invalid_scanned)} == truth["invalid"]
    assert scanned.errors_by_column == truth["errors_by_column"]
    assert without_empty_values(comparable(scanned)["errors"]) == without_empty_values(truth["errors"])


HYPOTHESIS = settings(
    max_examples=200, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HYPOTHESIS
@given(case=small_case())
def test_prescan_matches_ordinary_path_and_python_jsonschema(tmp_path: Path, case: Case) -> None:
    check_case(case, tmp_path / "data.csv")


@HYPOTHESIS
@given(case=repetitive_case())
def test_prescan_matches_on_repetitive_interned_columns(tmp_path: Path, case: Case) -> None:
    check_case(case, tmp_path / "data.csv")


DRAFT_04 = "http://json-schema.org/draft-04/schema#"
RESHAPES = ("allOf", "allOf restated", "$ref", "$ref with siblings", "root $ref", "draft-04")


def reshape(schema: dict, how: str, draw: Any) -> dict:
    """``schema`` (flat) in another shape; all but "$ref with siblings" keep its verdicts exactly."""
    schema = json.loads(json.dumps(schema))
    dialect = schema.pop("$schema")
    definitions = "$defs" if dialect == DRAFTS[2020] else "definitions"
    if how == "allOf":  # a root allOf of the whole, and of an empty object schema
        return {"$schema": dialect, "allOf": [schema, {"type": "object"}]}
    if how == "allOf restated":  # a second branch restates some columns: errors count twice, verdicts hold
        properties = schema.get("properties", {})
        again = {name: sub for name, sub in properties.items() if draw(st.booleans())}
        return {"$schema": dialect, "allOf": [schema, {"properties": again}]}
    if how in ("$ref", "$ref with siblings"):
        properties = schema.get("properties", {})
        schema[definitions] = dict(properties)
        for name in properties:
            properties[name] = {"$ref": f"#/{definitions}/{name}"}
            if how == "$ref with siblings":  # ignored by draft 7, applied by 2020-12
                properties[name]["maxLength"] = draw(st.integers(0, 3))
        return {"$schema": dialect, **schema}
    if how == "root $ref":
        return {"$schema": dialect, "$ref": f"#/{definitions}/row", definitions: {"row": schema}}
    # draft-04: numeric exclusive bounds become draft 4's booleans, true or false
    properties = schema.get("properties", {})
    for name, sub in properties.items():
        if not isinstance(sub, dict):  # draft 4 has no boolean schemas
            properties[name] = {} if sub else {"not": {}}
            continue
        for inclusive, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if exclusive in sub:
                sub.setdefault(inclusive, sub[exclusive])
                sub[exclusive] = draw(st.booleans())
        sub.pop("const", None)  # draft 4 has none: an unknown keyword, ignored
    return {"$schema": DRAFT_04, **schema}


@st.composite
def reshaped_case(draw: Any) -> tuple[Case, bool]:
    """A small or repetitive case, its schema reshaped; and whether the scan must run on it."""
    case = draw(st.one_of(small_case(), repetitive_case()))
    how = draw(st.sampled_from(RESHAPES))
    must_scan = scannable(case.schema, case.columns, case.repetitive) and how != "$ref with siblings"
    event(f"reshape: {how}")
    case.schema = reshape(case.schema, how, draw)
    return case, must_scan


@HYPOTHESIS
@given(drawn=reshaped_case())
def test_prescan_matches_on_schemas_it_normalises(tmp_path: Path, drawn: tuple[Case, bool]) -> None:
    # A schema that means the same as a flat one takes the fast path, with the same verdicts and messages.
    case, must_scan = drawn
    check_case(case, tmp_path / "data.csv", must_scan=must_scan, reshaped=True)


# --------------------------------------------------------------------------- every tricky cell, every native keyword

NATIVE_SUBSCHEMAS = [
    {"type": "integer"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"}, {"type": "null"},
    {"type": ["integer", "null"]}, {"type": ["number", "string"]}, {"type": ["boolean", "integer"]},
    {"minimum": 5}, {"exclusiveMinimum": 5}, {"minimum": 5, "exclusiveMinimum": 5}, {"maximum": 1000.0},
    {"exclusiveMaximum": 1000}, {"minimum": 0, "exclusiveMaximum": 0.5}, {"exclusiveMinimum": 0}, {"maximum": 0},
    {"minimum": -5, "maximum": 7}, {"type": "integer", "maximum": 999999999999999},
    {"type": "number", "minimum": 0.1}, {"type": "integer", "minimum": 100000, "exclusiveMaximum": 100001},
    {"type": "number", "maximum": 2**53}, {"minLength": 2}, {"maxLength": 1}, {"type": "string", "minLength": 3,
    "maxLength": 3}, {"format": "date"}, {"format": "email"}, {"format": "idn-email"},
    {"type": ["string", "null"], "format": "date", "maxLength": 10}, {"type": "boolean", "title": "flag"},
]  # fmt: skip


@pytest.mark.parametrize("draft", ["draft-06", "draft-07", "2020-12"])
def test_no_cell_python_jsonschema_rejects_is_ever_cleared(tmp_path: Path, draft: str) -> None:
    """Each tricky text, alone in a row, under each subschema the scan checks natively."""
    uri = {"draft-06": "http://json-schema.org/draft-06/schema#", "draft-07": DRAFTS[7], "2020-12": DRAFTS[2020]}
    path = write_csv(tmp_path / "cells.csv", ["v"], [[text] for text in CELLS])
    cleared = 0
    for subschema in NATIVE_SUBSCHEMAS:
        schema = {"$schema": uri[draft], "properties": {"v": subschema}}
        # (ANY: a format the draft does not check, an annotation)
        assert all(rule[0] in (prescan.NATIVE, prescan.ANY) for rule in schema_parts(path, schema)[3]), subschema
        suspects = {index + 2 for index in suspects_of(scan_file(path, schema))}
        invalid = reference(path, schema)["invalid"]
        assert invalid <= suspects, (subschema, [CELLS[row - 2] for row in sorted(invalid - suspects)])
        cleared += len(CELLS) - len(suspects)
    assert cleared > len(CELLS) * len(NATIVE_SUBSCHEMAS) // 3  # a filter that clears little is no use


# --------------------------------------------------------------------------- file shapes the scan reads

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 8},
        "day": {"type": ["string", "null"], "format": "date"},
        "score": {"type": "number", "exclusiveMaximum": 100},
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}
HEADER = ["id", "name", "day", "score"]
ROWS = [
    ["1", "ann", "2024-02-29", "99.5"],
    ["2", "bob", "", "1e1"],
    ["0", "cy", "2024-01-01", "5"],  # id below minimum
    ["3", "dée🙂", "2023-02-29", "5"],  # not a date
    ["4", "", "2024-03-01", "100"],  # name missing, score not below 100
    ["5", "ed", "2024-12-31", "-0"],
    ["x", "toolongname", "", ""],  # id a string, name too long
    ["+6", "漢字漢字漢字漢字", "0001-01-01", ".5"],  # 8 characters, 24 bytes: valid
]


def assert_scanned_like_ordinary(path: Path, schema: dict = SCHEMA, **kwargs: Any) -> Any:
    """Same report as the ordinary path and as python-jsonschema, and the scan really ran."""
    report, log = assert_same_report(path, schema, **kwargs)
    assert log.ran, "the pre-scan declined or did not run"
    truth = reference(path, schema)
    assert report.total_rows == truth["rows"]
    assert report.invalid_rows == len(truth["invalid"])
    assert report.errors_by_column == truth["errors_by_column"]
    return report


def test_a_plain_file_is_scanned_and_only_suspects_reach_the_engine(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS)
    report = assert_scanned_like_ordinary(path)
    assert (report.total_rows, report.invalid_rows) == (8, 4)
    # The rows python-jsonschema rejects are all suspects (0-based: rows 4, 5, 6 and 8 of the sheet).
    assert set(suspects_of(scan_file(path, SCHEMA))) >= {2, 3, 4, 6}


def test_the_engine_takes_the_prescanned_path_for_a_well_formed_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS)
    compiled = CompiledSchema(SCHEMA)
    report = runners.validate_prescanned(open_table(path), compiled, max_errors=1000, invalid_out=None, progress=None)
    assert report is not None
    assert comparable(report) | {"warnings": []} == comparable(ordinary(path, SCHEMA))


def test_bom_at_file_start(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS, bom=True)
    report = assert_scanned_like_ordinary(path)
    assert report.errors_by_column["id"] == {"minimum": 1, "type": 1}  # the BOM is not part of "id"


def test_crlf_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS, crlf=True)
    assert_scanned_like_ordinary(path)


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_last_line_without_newline(tmp_path: Path, crlf: bool) -> None:
    rows = [*ROWS, ["7", "last", "2024-02-30", ""]]  # invalid, and last
    path = write_csv(tmp_path / "data.csv", HEADER, rows, crlf=crlf, final_newline=False)
    report = assert_scanned_like_ordinary(path)
    assert report.errors[-1].row == 10 and report.errors[-1].column == "day"


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, [])
    report = assert_scanned_like_ordinary(path)
    assert (report.total_rows, report.invalid_rows, report.errors) == (0, 0, [])


def test_header_only_file_without_newline_is_declined(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, [], final_newline=False)
    report, log = assert_same_report(path, SCHEMA)
    assert log.declined and report.total_rows == 0


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_quoted_field_holding_newlines_and_delimiters_is_one_cell(tmp_path: Path, crlf: bool) -> None:
    rows = [
        ["1", "a,\nb", "", "1"],  # 4 characters: valid
        ["2", "a,\r\nbcdefg", "", "1"],  # 10 characters: too long
        ["3", ",,,\n\n", "", "2"],  # valid
        ["4", "x", "", "3"],
    ]
    path = write_csv(tmp_path / "data.csv", HEADER, rows, crlf=crlf)
    report = assert_scanned_like_ordinary(path)
    assert report.total_rows == 4
    assert [(e.row, e.column, e.keyword) for e in report.errors] == [(3, "name", "maxLength")]
    assert 1 in suspects_of(scan_file(path, SCHEMA))


def test_escaped_quote_makes_a_suspect_with_an_exact_verdict(tmp_path: Path) -> None:
    rows = [
        ["1", 'say "hi"', "", "1"],  # 8 characters once unescaped: valid
        ["2", 'say "hi!"', "", "1"],  # 9: too long
        ["3", "plain", "", "1"],
    ]
    path = write_csv(tmp_path / "data.csv", HEADER, rows)
    assert b'"say ""hi"""' in path.read_bytes()
    assert suspects_of(scan_file(path, SCHEMA))[:2] == [0, 1]
    report = assert_scanned_like_ordinary(path)
    assert [(e.row, e.value) for e in report.errors] == [(3, 'say "hi!"')]


# --------------------------------------------------------------------------- shapes the scan declines


def late(data: bytes) -> bytes:
    """``data`` after 70 KB of valid rows, past the 64 KiB head the reader decides the encoding on."""
    return "".join(f"{i},n{i},,1\n" for i in range(10, 7010)).encode() + data


DECLINED = {
    "blank line": b"1,a,,1\n\n2,b,,1\n",
    "blank line at the end": b"1,a,,1\n2,b,,1\n\n",
    "long row": b"1,a,,1\n2,b,,1,9\n3,c,,1\n",
    "stray CR in an LF file": b"1,a\r,,1\n2,b,,1\n",
    "CR line ending in an LF file": b"1,a,,1\r\n2,b,,1\n",
    "quote inside an unquoted field": b'1,a"b,,1\n2,b,,1\n',
    "text after a closing quote": b'1,"a"b,,1\n2,b,,1\n',
    "unclosed quote": b'1,a,,1\n2,"b,,1\n',
    "late overlong UTF-8": late(b"1,\xc0\xaf,,1\n"),
    "late cp1252 bytes": late(b"1,caf\xe9,,1\n2,na\xefve,,200\n"),
    "late cp1252 byte in a quoted field": late(b'1,"caf\xe9",,1\n'),
}


@pytest.mark.parametrize("body", DECLINED.values(), ids=DECLINED.keys())
def test_shapes_the_scan_declines_fall_back_to_the_ordinary_path(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"id,name,day,score\n" + body)
    _, log = assert_same_report(path, SCHEMA)
    assert log.calls == 1 and log.declined


SHORT_ROWS = {
    "short row": b"1,a,,1\n2,b\n3,c,,1\n",
    "one field": b"1,a,,1\n2\n3,c,,1\n",
    "short valid row": b"1,a,2024-01-01\n2,b,,1\n",
    "short last row without newline": b"1,a,,1\n2,b,x",
    "short quoted row": b'1,a,,1\n"2","b,c"\n3,c,,1\n',
    "short rows in a row": b"1,a\n2,b\n3,c,,1\n4\n",
    "short row with bad cells": b"1,a,,1\nx,b,not-a-date\n3,c,,500\n",
    "late short row": late(b"1,a\n2,b,,1\n"),
}


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("body", SHORT_ROWS.values(), ids=SHORT_ROWS.keys())
def test_a_short_row_costs_one_suspect_not_the_file(tmp_path: Path, body: bytes, crlf: bool) -> None:
    # Polars pads a short row with nulls whether it reads the file or the suspects' records.
    path = tmp_path / "data.csv"
    data = b"id,name,day,score\n" + body
    path.write_bytes(data.replace(b"\n", b"\r\n") if crlf else data)
    report, log = assert_same_report(path, SCHEMA, invalid_out=tmp_path / "invalid.csv")
    assert log.calls == 1 and not log.declined
    assert report.errors_by_column[""]["ragged"] >= 1
    for max_errors in (0, 1, 2):
        assert_same_report(path, SCHEMA, max_errors=max_errors)


@pytest.mark.parametrize(
    "content",
    [
        b"id,name,day,score\r\n1,a,,1\n2,b,,1\r\n",  # an LF line in a CRLF file
        b"id,name,day,score\r\n1,a\r,,1\r\n",  # a bare CR inside a CRLF line
        b"id,name,day,score\r\n1,a,,1\r",  # a bare CR at the very end
    ],
    ids=["lf-in-crlf", "bare-cr-in-crlf", "cr-at-end"],
)
def test_line_ending_and_header_shapes_are_declined(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    _, log = assert_same_report(path, SCHEMA)
    assert log.calls == 1 and log.declined


@pytest.mark.parametrize("crlf", [False, True])
def test_a_quoted_header_is_scanned(tmp_path: Path, crlf: bool) -> None:
    # Spreadsheet exports quote every field, names too; a name may even hold a newline or the delimiter.
    ending = b"\r\n" if crlf else b"\n"
    path = tmp_path / "data.csv"
    path.write_bytes(ending.join([b'"id","name","day","score"', b'"1","a","","1"', b'"2","b","x","200"', b""]))
    _, log = assert_same_report(path, SCHEMA)
    assert log.calls == 1 and not log.declined
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b'"id","na\nme, ""x""",day,score\n1,a,,1\n2,b,x,200\n')
    _, log = assert_same_report(odd, {"properties": {"id": {"type": "integer", "minimum": 2}}})
    assert log.calls == 1 and not log.declined


def test_early_cp1252_file_is_scanned_as_recoded_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"id,name,day,score\n1,caf\xe9,,1\n2,na\xefve,,200\n")
    report, log = assert_same_report(path, SCHEMA)
    assert log.calls == 1 and not log.declined
    assert [w.split(", a guess")[0] for w in report.warnings] == ["the file is not UTF-8; read it as cp1252"]


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"id": {"type": "integer", "maximum": 2**53 + 1}}},
        {"properties": {"id": {"type": "integer"}}, "additionalProperties": False},  # name, day, score fail
        {"allOf": [{"properties": {"id": {}}, "additionalProperties": False}, {"properties": {"name": {}}}]},
        {"properties": {"id": {"$ref": "#/$defs/id"}}, "$defs": {"id": {"$id": "other", "type": "integer"}}},
        {"allOf": [{"$schema": DRAFT_04, "properties": {"id": {"type": "integer"}}}]},
        {"properties": {"id": {"type": "integer"}}, "dependentRequired": {"id": ["name"]}},
        {"$defs": {"node": {"type": "object", "properties": {"id": {"$ref": "#/$defs/node"}}}},
         "$ref": "#/$defs/node"},
        {"$schema": DRAFTS[7], "$ref": "#/definitions/row",
         "definitions": {"row": {"properties": {"id": {"type": "integer"}}, "anyOf": [{"required": ["id"]}]}}},
    ],
    ids=["bound-beyond-2**53", "extra-columns-forbidden", "allOf-branch-forbids-columns",
         "ref-into-another-base-uri", "branch-in-another-draft", "dependentRequired", "ref-cycle-through-a-property",
         "root-ref-to-anyOf"],
)
def test_schemas_beyond_flat_properties_take_the_ordinary_path(tmp_path: Path, schema: dict) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS)
    assert schema_parts(path, schema)[3] is None
    _, log = assert_same_report(path, schema)
    assert log.calls == 0


NORMALISED = {
    "draft-04 exclusiveMinimum true": {"$schema": DRAFT_04, "properties": {
        "id": {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
        "score": {"type": "number", "maximum": 100, "exclusiveMaximum": True}}},
    "draft-04 exclusiveMaximum false": {"$schema": DRAFT_04, "properties": {
        "score": {"type": "number", "maximum": 5, "exclusiveMaximum": False}}, "required": ["id"]},
    "draft-04 integers and an unchecked format": {"$schema": DRAFT_04, "properties": {
        "id": {"type": "integer"}, "day": {"format": "date"}, "score": {"type": "integer"}}},
    "root allOf": {"properties": {"id": {"type": "integer"}}, "allOf": [{"required": ["id"]}]},
    "root allOf of object schemas": {**SCHEMA, "properties": {}, "required": [], "additionalProperties": True,
                                     "allOf": [{"type": "object", "properties": SCHEMA["properties"]},
                                               {"required": ["id", "name"], "additionalProperties": False,
                                                "properties": {name: True for name in HEADER}}]},
    "root allOf with conflicting types": {"allOf": [{"properties": {"id": {"type": "integer"}}},
                                                    {"properties": {"id": {"type": "string"}}}]},
    "root allOf with both bounds": {"allOf": [{"properties": {"id": {"minimum": 2}, "name": {"maxLength": 3}}},
                                              {"properties": {"id": {"maximum": 4}, "name": {"minLength": 2}}}]},
    "nested allOf and additionalProperties": {"allOf": [{"allOf": [{"properties": {"id": {"type": "integer"}},
                                                                    "additionalProperties": {"maxLength": 3}}]}]},
    "$ref to $defs": {"$defs": {"pos": {"type": "integer", "minimum": 1}, "short": {"maxLength": 3}},
                      "properties": {"id": {"$ref": "#/$defs/pos"}, "name": {"$ref": "#/$defs/short"}}},
    "$ref chain to definitions": {"$schema": DRAFTS[7], "definitions": {"a": {"$ref": "#/definitions/b"},
                                                                        "b": {"type": "integer", "maximum": 3}},
                                  "properties": {"id": {"$ref": "#/definitions/a"}}},
    "$ref siblings, draft-07 (ignored)": {"$schema": DRAFTS[7], "definitions": {"int": {"type": "integer"}},
                                          "properties": {"id": {"$ref": "#/definitions/int", "minimum": 3}}},
    "$ref siblings, 2020-12 (applied)": {"$defs": {"int": {"type": "integer"}},
                                         "properties": {"id": {"$ref": "#/$defs/int", "minimum": 3}}},
    "$ref by JSON pointer into properties": {"properties": {"id": {"type": "integer", "maximum": 4},
                                                            "score": {"$ref": "#/properties/id"}}},
    "root $ref": {"$ref": "#/$defs/row", "$defs": {"row": SCHEMA}},
    "root $ref with a sibling, draft-07 (ignored)": {"$schema": DRAFTS[7], "$ref": "#/definitions/row",
                                                     "required": ["nowhere"],
                                                     "definitions": {"row": {**SCHEMA, "$schema": DRAFTS[7]}}},
    "nullable type list": {"properties": {"id": {"type": ["integer", "null"], "minimum": 1},
                                          "name": {"type": ["null", "string"], "maxLength": 3}},
                           "required": ["id", "name"]},
    "unknown keywords": {"properties": {"id": {"type": "integer", "x-nullable": True, "example": 3}},
                         "x-generator": "some tool"},
}


@pytest.mark.parametrize("schema", NORMALISED.values(), ids=NORMALISED.keys())
def test_schemas_that_normalise_to_flat_properties_are_scanned(tmp_path: Path, schema: dict) -> None:
    path = write_csv(tmp_path / "data.csv", HEADER, ROWS)
    report = assert_scanned_like_ordinary(path, schema)
    assert without_empty_values(comparable(report)["errors"]) == without_empty_values(reference(path, schema)["errors"])


@pytest.mark.parametrize("height", [8, 999, 1500])
def test_a_wide_short_file_interns_every_column_a_long_one_only_repetitive_ones(tmp_path: Path, height: int) -> None:
    names = [f"c{i}" for i in range(verdicts.WIDE_SCHEMA_COLUMNS)]
    schema = {"properties": {"c0": {"anyOf": [{"type": "integer", "maximum": 900}, {"const": "x"}]}}}
    path = write_csv(tmp_path / "data.csv", names, [[str(i)] + ["a"] * (len(names) - 1) for i in range(height)])
    report, log = assert_same_report(path, schema)
    assert report.invalid_rows == max(height - 901, 0)
    if height < runners.SMALL_FILE_ROWS:
        assert log.ran and log.rules[0][0] == prescan.DICT
    else:  # distinct ids, no repetition: the ordinary path
        assert log.calls == 0


NULLABLE_INTERNED = {
    "enum with null": {"type": ["string", "null"], "enum": ["a", "b", None]},
    "const null": {"type": ["integer", "null"], "const": None},
    "enum with null, draft-04": {"type": ["string", "null"], "enum": ["a", None]},
    "enum behind a $ref": {"$ref": "#/definitions/choice"},
}


@pytest.mark.parametrize("subschema", NULLABLE_INTERNED.values(), ids=NULLABLE_INTERNED.keys())
def test_nullable_interned_columns_are_scanned(tmp_path: Path, subschema: dict) -> None:
    rng = random.Random(7)
    rows = [[str(i), rng.choice(["a", "b", "c", "", "null"])] for i in range(1, 1200)]
    path = write_csv(tmp_path / "data.csv", ["id", "v"], rows)
    draft = DRAFT_04 if "draft-04" in json.dumps(subschema) or subschema.get("enum") == ["a", None] else DRAFTS[7]
    schema = {"$schema": draft, "properties": {"id": {"type": "integer"}, "v": subschema},
              "definitions": {"choice": {"type": ["string", "null"], "enum": ["a", None]}}}
    report = assert_scanned_like_ordinary(path, schema)
    assert any(rule[0] == prescan.DICT for rule in schema_parts(path, schema)[3])
    assert report.invalid_rows > 0


# --------------------------------------------------------------------------- quarantine, segments, progress


def test_invalid_out_holds_exactly_the_invalid_rows_with_their_row_numbers(tmp_path: Path) -> None:
    rows = [*ROWS, ["9", "a,\nb", "", "1"], ["10", 'q"uote', "2024-02-30", "1"]]
    path = write_csv(tmp_path / "data.csv", HEADER, rows)
    bad = tmp_path / "bad.csv"
    assert_scanned_like_ordinary(path, invalid_out=bad)  # the same file as the ordinary path's
    written = read_rows(bad)
    assert [int(row["_row"]) for row in written] == sorted(reference(path, SCHEMA)["invalid"]) == [4, 5, 6, 8, 11]
    for row in written:
        assert [row[name] for name in HEADER] == rows[int(row["_row"]) - 2]
    assert written[-1]["_errors"] == "day:format"


def test_quarantine_files_are_the_same_whichever_path_checks_a_row(tmp_path: Path) -> None:
    # "1e400" overflows Polars' floats: on the ordinary path this row goes whole to python-jsonschema,
    # which reports each missing required property; the pre-scan path checks it row by row too.
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "n": {"type": "number", "maximum": 5}},
        "required": ["a", "b"],
    }
    path = write_csv(tmp_path / "data.csv", ["a", "b", "n"], [["", "", "1e400"], ["", "", "7"], ["x", "y", "1"]])
    scanned_out, ordinary_out = tmp_path / "bad-scan.csv", tmp_path / "bad-ordinary.csv"
    report, log = with_prescan(path, schema, invalid_out=scanned_out)
    assert log.ran and comparable(report) == comparable(ordinary(path, schema, invalid_out=ordinary_out))
    assert [row["_errors"] for row in read_rows(scanned_out)] == ["n:maximum; :required", "n:maximum; :required"]
    # Each (column, keyword) once, as for every other row: the ordinary path repeats ":required" on row 2.
    assert read_rows(ordinary_out) == read_rows(scanned_out)


def progress_of(run: Any) -> list[tuple[int, int | None]]:
    calls: list[tuple[int, int | None]] = []
    run(progress=lambda done, total: calls.append((done, total)))
    return calls


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_small_batches_make_many_segments_and_the_same_report(tmp_path: Path, crlf: bool) -> None:
    rng = random.Random(7)
    extra = [["11", "a,\nb", "", "1"], ["12", 'say "hi"', "", "1"], ["13", "🙂🙂🙂🙂🙂🙂🙂🙂", "", "1"]]
    rows = [rng.choice(ROWS + extra) for _ in range(300)]
    path = write_csv(tmp_path / "data.csv", HEADER, rows, crlf=crlf)
    with watching_scan() as log:
        seen = progress_of(partial(validate_file, path, CompiledSchema(SCHEMA), batch_rows=7, max_errors=10_000))
    assert log.ran and len(log.segments) > 20
    assert [s.first_row for s in log.segments] == list(itertools.accumulate([0] + [s.rows for s in log.segments[:-1]]))
    assert [s.last for s in log.segments] == [False] * (len(log.segments) - 1) + [True]
    assert all(done < later for (done, _), (later, _) in itertools.pairwise(seen))
    assert seen[-1] == (300, 300)
    assert_scanned_like_ordinary(path, batch_rows=7, max_errors=10_000)
    # The ordinary path reports progress the same way at the end.
    assert progress_of(partial(ordinary, path, SCHEMA, batch_rows=7))[-1] == (300, 300)


@pytest.mark.parametrize("python_suspects", [0, 1, 2], ids=["plan-only", "mixed", "mostly-row-by-row"])
def test_suspects_checked_by_the_plan_or_row_by_row_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python_suspects: int
) -> None:
    # Segments of about 7 rows: those with more suspects than PYTHON_SUSPECTS build the plan.
    monkeypatch.setattr(verdicts, "PYTHON_SUSPECTS", python_suspects)
    rows = [*ROWS, ["9", "a,\nb", "", "1"], ["10", 'say "hi!"', "2024-02-30", "1e400"], ["", "", "", ""]] * 5
    path = write_csv(tmp_path / "data.csv", HEADER, rows)
    assert_scanned_like_ordinary(path, batch_rows=7, invalid_out=tmp_path / "bad.csv")


def test_any_segment_size_finds_the_same_rows_and_suspects(tmp_path: Path) -> None:
    """Segments cut anywhere: inside a quoted field, an escaped quote, a UTF-8 character, a CRLF."""
    rows = [*ROWS, ["9", 'a""\r\n,"', "", "1"], ["10", "é🙂\n漢", "2024-02-29", "1e1"]] * 3
    for crlf in (False, True):
        path = write_csv(tmp_path / "data.csv", HEADER, rows, crlf=crlf, final_newline=False)
        whole = scan_file(path, SCHEMA, threads=1)
        assert sum(s.rows for s in whole) == len(rows)
        for size in range(1, 90):
            segments = scan_file(path, SCHEMA, segment_bytes=size, threads=1)
            assert sum(s.rows for s in segments) == len(rows), size
            assert suspects_of(segments) == suspects_of(whole), size
            assert [f for s in segments for f in s.flagged] == [f for s in whole for f in s.flagged], size


# --------------------------------------------------------------------------- interned (DICT) columns

CODES_SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "code": {"type": "string", "pattern": "^c1"}},
    "required": ["n", "code"],
}


CODES = [f"c{i % 200}" if i % 250 else "" for i in range(1200)]  # 200 codes (interned), a few missing
REFUSED_CODES = {i for i, code in enumerate(CODES) if not code.startswith("c1")}  # missing or not ^c1


def codes_file(path: Path) -> Path:
    return write_csv(path, ["n", "code"], [[str(i), code] for i, code in enumerate(CODES)])


def test_interned_column_clears_exactly_the_rows_python_jsonschema_accepts(tmp_path: Path) -> None:
    path = codes_file(tmp_path / "codes.csv")
    assert prescan.DICT in [rule[0] for rule in schema_parts(path, CODES_SCHEMA)[3]]
    report = assert_scanned_like_ordinary(path, CODES_SCHEMA)
    assert set(suspects_of(scan_file(path, CODES_SCHEMA))) == REFUSED_CODES
    assert report.invalid_rows == len(REFUSED_CODES)


def test_more_distinct_values_than_the_dict_limit_declines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = codes_file(tmp_path / "codes.csv")
    monkeypatch.setattr(prescan, "DICT_LIMIT", 50)
    report, log = assert_same_report(path, CODES_SCHEMA)
    assert log.calls == 1 and log.declined
    assert report.invalid_rows == len(REFUSED_CODES)


def test_fallback_keywords_do_not_depend_on_how_many_rows_are_suspects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "\\w" runs in Python (Rust's \w differs): the plan lists "pattern" under fallback_keywords.
    schema = {"properties": {"code": {"type": "string", "pattern": "^\\w+$"}}}
    path = write_csv(tmp_path / "codes.csv", ["code"], [[f"c{i % 20}" if i % 100 else "c-1"] for i in range(1200)])
    assert ordinary(path, schema).fallback_keywords == ["pattern"]
    few_suspects, log = with_prescan(path, schema)  # 12 suspects: checked row by row
    assert log.ran
    monkeypatch.setattr(verdicts, "PYTHON_SUSPECTS", 0)  # as if there were many: checked by the plan
    many_suspects, log = with_prescan(path, schema)
    assert log.ran and many_suspects.fallback_keywords == ["pattern"]
    assert few_suspects.fallback_keywords == ["pattern"]


# --------------------------------------------------------------------------- threads

THREADS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "text": {"type": "string"},
        "plan": {"enum": ["free", "pro", "team", "gold"]},  # interned: plans repeat
        "flag": {"type": "boolean"},
    },
    "required": ["id", "plan"],
}
MIB = 1024 * 1024


def row_text(i: int) -> str:
    plan = ("free", "pro", "team")[i % 3] if i < 60_000 else ("free", "gold", "zeta")[i % 3]  # zeta: refused
    ident = "-1" if i % 1013 == 0 else str(i)
    flag = "maybe" if i % 2003 == 0 else ("true", "FALSE")[i % 2]
    return f"{ident},t{i % 97},{plan},{flag}\n"


def quoted_record(i: int, size: int) -> str:
    """A valid record whose quoted field holds ``size`` bytes of lines that look like records themselves."""
    lines = "\n".join(f"{k},x,pro,true" for k in range(size // 14 + 1))
    return f'{i},"{lines}",pro,true\n'


def threads_file(path: Path, length: int, quoted_at: list[int], quoted_size: int = 20_000) -> tuple[bytes, int]:
    """About ``length`` bytes of rows, with a multi-line quoted record centred on each offset of
    ``quoted_at``; returns the body (the bytes after the header) and the number of records."""
    parts, size = [], 0
    for target in sorted(quoted_at):
        big = quoted_record(len(parts), quoted_size)
        while size + len(big) // 2 < target:
            parts.append(row_text(len(parts)))
            size += len(parts[-1])
        parts.append(quoted_record(len(parts), quoted_size))
        size += len(parts[-1])
    while size < length:
        parts.append(row_text(len(parts)))
        size += len(parts[-1])
    body = "".join(parts).encode()
    path.write_bytes(b"id,text,plan,flag\n" + body)
    return body, len(parts)


def first_newline_is_quoted(body: bytes, offset: int) -> bool:
    """Whether the first newline at or after ``offset`` lies inside a quoted field."""
    newline = body.index(b"\n", offset)
    return body.count(b'"', 0, newline) % 2 == 1


def same_scan(one: list[prescan.Segment], other: list[prescan.Segment]) -> bool:
    return [(s.rows, s.suspects, s.flagged, s.records) for s in one] == [
        (s.rows, s.suspects, s.flagged, s.records) for s in other]


def test_two_threads_rescan_a_range_whose_guessed_start_is_inside_a_quoted_field(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    length = 3 * MIB + MIB // 2
    body, records = threads_file(path, length, [length // 2])
    # _prescan.c: two ranges once the body is 2 MiB or more; the second starts after the first
    # newline past the middle byte, here inside the quoted field: it must be scanned again.
    assert len(body) >= 2 * MIB and first_newline_is_quoted(body, len(body) // 2)

    one, two = scan_file(path, THREADS_SCHEMA, threads=1), scan_file(path, THREADS_SCHEMA, threads=2)
    assert len(two) == 1 and two[0].rows == records
    assert same_scan(two, one)
    assert two[0].suspects  # -1 ids, "maybe" flags, "zeta" plans

    with watching_scan(threads=2) as log:
        report = validate_file(path, CompiledSchema(THREADS_SCHEMA))
    assert log.ran
    assert comparable(report) == comparable(ordinary(path, THREADS_SCHEMA))
    assert report.total_rows == records
    assert report.errors_by_column["plan"] == {"enum": body.count(b",zeta,")}


def test_four_threads_with_a_quoted_field_longer_than_a_range(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    length = 4 * MIB + MIB // 2
    # 2.5 MiB of quoted lines around the middle: the first range's last record runs past the
    # guessed starts of the second and third ranges, and past the second range's end.
    body, records = threads_file(path, length, [length // 2], quoted_size=5 * MIB // 2)
    assert all(first_newline_is_quoted(body, len(body) // 4 * k) for k in (1, 2, 3))

    four = scan_file(path, THREADS_SCHEMA, threads=4)
    assert four[0].rows == records
    assert same_scan(four, scan_file(path, THREADS_SCHEMA, threads=1))


def test_two_threads_on_segments_that_end_inside_a_quoted_field(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    segment = 5 * MIB // 2
    body, records = threads_file(path, 3 * MIB + MIB // 2, [segment // 2, segment])
    # The first segment's two ranges split inside a quoted field, and the segment ends inside another.
    assert first_newline_is_quoted(body, segment // 2) and first_newline_is_quoted(body, segment - 1)

    cut = scan_file(path, THREADS_SCHEMA, threads=2, segment_bytes=segment)
    assert [s.last for s in cut] == [False, True]
    assert sum(s.rows for s in cut) == records
    whole = scan_file(path, THREADS_SCHEMA, threads=1)
    assert suspects_of(cut) == suspects_of(whole)
    assert [f for s in cut for f in s.flagged] == whole[0].flagged


def test_a_delimiter_beyond_ascii_is_a_clear_error(tmp_path: Path) -> None:
    # Polars splits fields on one byte too: the reader refuses it before either path runs.
    path = tmp_path / "data.csv"
    path.write_text("id§name§day§score\n1§a§§1\n2§b§x§200\n", encoding="utf-8")
    with pytest.raises(ReadError, match="single-byte"):
        validate_file(path, SCHEMA, delimiter="§")
