"""The official JSON Schema test suite, run through the engine one column at a time.

Every suite test whose instance is a scalar becomes one row of a one-column
spreadsheet (column ``v``) validated against

    {"$schema": <draft>, "type": "object",
     "properties": {"v": {"$ref": "#/<defs>/__case"}}, "<defs>": {"__case": <test schema>}}

with the test schema's own ``#/...`` references rewritten to point under
``#/<defs>/__case`` (unless the test schema is its own resource through a root
``$id``, in which case they already resolve against it).  The instance is
written as the cell text the typing contract reads back as that very value;
where no such text exists the test is skipped with the reason.

Each test checks that the engine's verdict equals the oracle's
(python-jsonschema on the coerced row) and that the oracle equals the suite's
``valid``, except for the known python-jsonschema deviations listed below.
Each group additionally checks ``errors_by_column``, the invalid row count and
the (row, column, keyword) set of ``errors`` against the oracle.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jsonschema.validators import validator_for

from tests.json_schema_suite import ENV, candidates, suite_root
from tests.oracle import allowed_types, coerce_cell, reference_counts, reference_error_set, reference_errors

SUITE = suite_root(Path(__file__)) / "tests"

DRAFTS = {
    "draft4": "http://json-schema.org/draft-04/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
    "draft2020-12": "https://json-schema.org/draft/2020-12/schema",
}
LEGACY_DRAFTS = {"draft4", "draft6", "draft7"}

# The optional format files whose format python-jsonschema's FORMAT_CHECKER asserts.
ASSERTED_FORMATS = ("date", "date-time", "time", "email", "ipv4", "ipv6", "uuid", "uri", "hostname")

# Whole files or groups left out, each with the reason.  Keys are
# "<draft>/<file>" (every group of the file) or "<draft>/<file>::<group>".
SKIPPED = {
    **{
        f"{draft}/refRemote.json": "remote $ref needs the suite's http://localhost:1234 server; "
        "the engine refuses http(s) $ref by design"
        for draft in DRAFTS
    },
    "draft2020-12/dynamicRef.json::$ref to $dynamicRef finds detached $dynamicAnchor": "remote $ref to the suite's "
    "http://localhost:1234 server",
    "draft2020-12/pattern.json::pattern with Unicode property escape requires unicode mode": "Python's re has no "
    "\\p{...}: python-jsonschema itself raises, so there is no reference verdict",
}

# Files where python-jsonschema, configured as the contract says, disagrees
# with the suite's `valid` for some tests.  For those tests the engine is still
# held to python-jsonschema's verdict, and the test checks that python-jsonschema
# on the raw (unwrapped) schema and instance disagrees with the suite too, so a
# mistake in the wrapping can never hide here.  Keys: "<draft>/<file>" or, for
# every draft, "*/<file>".
KNOWN_JSONSCHEMA_DEVIATIONS = {
    "draft2020-12/format.json": "the contract asserts format in every draft; the suite expects annotation only",
    "*/optional/format/email.json": "python-jsonschema's email check only asks for an '@'",
    "*/optional/format/hostname.json": "fqdn-based check: accepts a trailing dot or newline and the KELVIN SIGN, "
    "does not check IDNA A-labels",
    "*/optional/format/date-time.json": "rfc3339-validator rejects leap seconds and accepts a trailing newline",
    "*/optional/format/time.json": "python-jsonschema's time check rejects leap seconds",
    "*/optional/format/uri.json": "rfc3986-validator accepts a leading zero in an embedded IPv4 address",
    "*/optional/format/uuid.json": "python-jsonschema's uuid check goes through uuid.UUID, which is lenient",
}


def deviation_reason(test_id: str) -> str | None:
    file_id = test_id.split("::", 1)[0]
    draft, file = file_id.split("/", 1)
    return KNOWN_JSONSCHEMA_DEVIATIONS.get(file_id) or KNOWN_JSONSCHEMA_DEVIATIONS.get(f"*/{file}")


SCALARS = (type(None), bool, int, float, str)


# ---------------------------------------------------------------------------
# Wrapping a suite schema as the schema of column "v"
# ---------------------------------------------------------------------------

_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_SCHEMA_KEYWORDS = (
    "additionalProperties", "additionalItems", "items", "contains", "propertyNames", "not", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)  # fmt: skip
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


def _id_keyword(draft: str) -> str:
    return "id" if draft == "draft4" else "$id"


def _starts_resource(schema: dict, draft: str) -> bool:
    """Whether ``schema`` changes the base URI (a non-fragment ``$id``)."""
    identifier = schema.get(_id_keyword(draft))
    if not isinstance(identifier, str) or identifier.startswith("#"):
        return False
    # Up to draft 7 a $ref makes every sibling keyword, $id included, ignored.
    return not (draft in LEGACY_DRAFTS and "$ref" in schema)


def _rewrite_local_refs(schema: Any, prefix: str, draft: str, *, is_root: bool) -> Any:
    """Point ``#/...`` refs that resolve against the test schema's root under ``prefix``."""
    if isinstance(schema, list):
        return [_rewrite_local_refs(item, prefix, draft, is_root=False) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if not is_root and _starts_resource(schema, draft):
        return schema  # refs below resolve against this nested resource, not the root
    rewritten = dict(schema)
    ref = schema.get("$ref")
    if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
        rewritten["$ref"] = prefix + ref[1:]
    for keyword in _SCHEMA_KEYWORDS:
        if isinstance(schema.get(keyword), dict | bool):
            rewritten[keyword] = _rewrite_local_refs(schema[keyword], prefix, draft, is_root=False)
    for keyword in _SCHEMA_LIST_KEYWORDS:
        if isinstance(schema.get(keyword), list):
            rewritten[keyword] = _rewrite_local_refs(schema[keyword], prefix, draft, is_root=False)
    for keyword in _SCHEMA_MAP_KEYWORDS:
        if isinstance(schema.get(keyword), dict):
            rewritten[keyword] = {
                name: sub if isinstance(sub, list) else _rewrite_local_refs(sub, prefix, draft, is_root=False)
                for name, sub in schema[keyword].items()
            }
    return rewritten


def wrap_as_column(test_schema: Any, draft: str) -> dict:
    """The spreadsheet schema whose column ``v`` is governed by ``test_schema``."""
    defs = "definitions" if draft in LEGACY_DRAFTS else "$defs"
    case = copy.deepcopy(test_schema)
    if isinstance(case, dict):
        if case.get("$schema") == DRAFTS[draft]:
            del case["$schema"]
        if not _starts_resource(case, draft):
            case = _rewrite_local_refs(case, f"#/{defs}/__case", draft, is_root=True)
    return {
        "$schema": DRAFTS[draft],
        "type": "object",
        "properties": {"v": {"$ref": f"#/{defs}/__case"}},
        defs: {"__case": case},
    }


def cell_text_for(instance: Any, schema: dict) -> tuple[str | None, str | None]:
    """``(cell text, None)`` reading back as ``instance`` in column ``v``, or ``(None, skip reason)``."""
    allowed = allowed_types("v", schema)
    if instance is None:
        if "null" not in allowed:
            return None, "null instance, column does not allow null: an empty cell would be absent, not null"
        text = ""
    elif isinstance(instance, bool):
        if "boolean" not in allowed:
            return None, "boolean instance, column does not allow boolean: 'true'/'false' would stay strings"
        text = "true" if instance else "false"
    elif isinstance(instance, int | float):
        if not ({"integer", "number"} & allowed):
            return None, "number instance, column allows neither integer nor number: a numeral would stay a string"
        if isinstance(instance, float) and not math.isfinite(instance):
            return None, "non-finite float has no numeral"
        text = str(instance) if isinstance(instance, int) else repr(instance)
    elif instance == "":
        return None, "empty string instance: an empty cell is null or absent, never ''"
    else:
        text = instance
    present, value = coerce_cell(text, allowed)
    if not present or type(value) is not type(instance) or value != instance:
        return None, "string instance is boolean/numeral text in a column allowing boolean/number: not kept as a string"
    return text, None


# ---------------------------------------------------------------------------
# Collecting the suite
# ---------------------------------------------------------------------------


@dataclass
class Group:
    """One suite test case (schema + tests) as one spreadsheet."""

    id: str
    draft: str
    schema: Any
    wrapped: dict
    rows: list[str | None] = field(default_factory=list)  # cell text, one row per representable test
    tests: list[tuple[str, Any, bool, int | None, str | None]] = field(default_factory=list)
    # (test id, instance, suite valid, index into rows or None, skip reason)


def _suite_files(draft: str) -> list[Path]:
    root = SUITE / draft
    files = sorted(root.glob("*.json"))
    files += [root / "optional" / "format" / f"{name}.json" for name in ASSERTED_FORMATS]
    return [path for path in files if path.exists()]


SKIPPED_GROUPS: list[tuple[str, str]] = []  # (group or file id, reason), to report them as skipped tests


def test_the_suite_is_there() -> None:
    """Without the suite no case below would run, and nothing else would say so."""
    looked = ", ".join(str(place) for place in candidates(Path(__file__).resolve()))
    assert SUITE.is_dir(), f"no JSON-Schema-Test-Suite at {SUITE} (looked at: {looked}); set {ENV} to its folder"
    for draft in DRAFTS:
        assert len(_suite_files(draft)) >= 20, f"{SUITE / draft} holds too few test files"


def _collect_groups() -> list[Group]:
    groups = []
    for draft in DRAFTS:
        for path in _suite_files(draft):
            file_id = f"{draft}/{path.relative_to(SUITE / draft).as_posix()}"
            if file_id in SKIPPED:
                SKIPPED_GROUPS.append((file_id, SKIPPED[file_id]))
                continue
            for case in json.loads(path.read_text()):
                group_id = f"{file_id}::{case['description']}"
                if group_id in SKIPPED:
                    SKIPPED_GROUPS.append((group_id, SKIPPED[group_id]))
                    continue
                scalar_tests = [test for test in case["tests"] if isinstance(test["data"], SCALARS)]
                if not scalar_tests:
                    continue
                wrapped = wrap_as_column(case["schema"], draft)
                group = Group(group_id, draft, case["schema"], wrapped)
                for test in scalar_tests:
                    text, reason = cell_text_for(test["data"], wrapped)
                    index = None
                    if reason is None:
                        index = len(group.rows)
                        group.rows.append(text)
                    test_id = f"{group_id}::{test['description']}"
                    group.tests.append((test_id, test["data"], test["valid"], index, reason))
                groups.append(group)
    return groups


GROUPS = _collect_groups()


# ---------------------------------------------------------------------------
# Running a group through the engine and the oracle, once
# ---------------------------------------------------------------------------

MAX_ERRORS = 1_000_000


@dataclass
class GroupRun:
    report: Any
    engine_invalid: set[int]  # spreadsheet row numbers with at least one error
    oracle_errors: list[list[tuple[str | None, str]]]


_runs: dict[str, GroupRun] = {}


def _frame(rows: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"v": rows}, schema={"v": pl.String})


def run_group(group: Group) -> GroupRun:
    if group.id not in _runs:
        from airflow_provider_typecheck.validation import validate_frame

        cells = [{"v": text} for text in group.rows]
        report = validate_frame(_frame(group.rows), group.wrapped, max_errors=MAX_ERRORS)
        engine_invalid = {error.row for error in report.errors}
        _runs[group.id] = GroupRun(report, engine_invalid, reference_errors(cells, group.wrapped))
    return _runs[group.id]


def direct_verdict(schema: Any, instance: Any, draft: str) -> bool:
    """python-jsonschema's verdict on the raw suite schema and instance, as the contract configures it."""
    validator_class = validator_for({"$schema": DRAFTS[draft]})
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).is_valid(instance)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def _test_params():
    for group in GROUPS:
        for position, (test_id, _instance, _valid, _index, reason) in enumerate(group.tests):
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            yield pytest.param(group, position, id=test_id, marks=marks)


@pytest.mark.parametrize(("group", "position"), list(_test_params()))
def test_suite_case(group: Group, position: int):
    test_id, instance, suite_valid, index, _ = group.tests[position]
    run = run_group(group)
    oracle_valid = not run.oracle_errors[index]
    engine_valid = (index + 2) not in run.engine_invalid
    assert engine_valid == oracle_valid, (
        f"engine says {'valid' if engine_valid else 'invalid'}, python-jsonschema says "
        f"{'valid' if oracle_valid else 'invalid'} for cell {group.rows[index]!r} under {json.dumps(group.wrapped)}"
    )
    if oracle_valid != suite_valid:
        reason = deviation_reason(test_id)
        assert reason, "the oracle (python-jsonschema on the coerced row) disagrees with the suite"
        assert direct_verdict(group.schema, instance, group.draft) == oracle_valid, (
            "the wrapped schema changed python-jsonschema's verdict"
        )


@pytest.mark.parametrize(
    "group",
    [pytest.param(group, id=group.id) for group in GROUPS if group.rows]
    + [pytest.param(None, id=skipped, marks=pytest.mark.skip(reason=reason)) for skipped, reason in SKIPPED_GROUPS],
)
def test_suite_group_counts(group: Group):
    run = run_group(group)
    cells = [{"v": text} for text in group.rows]
    counts, invalid = reference_counts(cells, group.wrapped)
    report = run.report
    assert report.total_rows == len(group.rows)
    assert report.invalid_rows == len(invalid)
    assert report.valid_rows == len(group.rows) - len(invalid)
    assert report.errors_by_column == counts
    assert {(error.row, error.column, error.keyword) for error in report.errors} == reference_error_set(
        cells, group.wrapped
    )
    assert not report.errors_truncated
