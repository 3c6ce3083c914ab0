"""Compile a JSON Schema into vectorised Polars checks.

The compiler walks the schema the way python-jsonschema's ``descend`` does:
for each applicable keyword of a subschema it looks up one function in a
keyword table. Row-level functions (``ROW_KEYWORDS``) see the whole row as a
JSON object; cell-level functions (``CELL_KEYWORDS``) see one column's cells.
Each returns :class:`Check` objects: the ``(column, keyword)`` an error would
be reported under and a boolean expression that is true on the rows where
python-jsonschema would yield that error. A row is invalid iff any check
fires, and summing each check gives exact error counts.

Keywords the tables cannot express still run, through python-jsonschema on
just that part (per distinct cell value, or per row for row-level keywords),
and are listed in :attr:`Plan.fallback_keywords`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import referencing.jsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator

from airflow_provider_typecheck.validation.cells import (
    ABSENT,
    ABSENT_VALUE,
    BOOLEAN,
    FLOAT,
    INT,
    NULL,
    NUMBER_KINDS,
    PYTHON,
    STRING,
    TRUE_SPELLINGS,
    Cell,
    coerce_text,
)
from airflow_provider_typecheck.validation.formats import FORMAT_RULES
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.patterns import PatternTooSlow, runs_in_polars, search
from airflow_provider_typecheck.validation.schema import draft_of, governing_subschemas

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT_INT = 2**53
MAX_DEPTH = 64
REF_OVERRIDES_SIBLINGS = (Draft4Validator, Draft6Validator, Draft7Validator)

# Keywords that only constrain objects or arrays: python-jsonschema ignores them on scalars.
OBJECT_KEYWORDS = frozenset({
    "properties", "patternProperties", "additionalProperties", "required", "minProperties",
    "maxProperties", "dependentRequired", "dependentSchemas", "dependencies", "propertyNames",
    "unevaluatedProperties",
})
ARRAY_KEYWORDS = frozenset({
    "items", "prefixItems", "additionalItems", "contains", "minContains", "maxContains",
    "minItems", "maxItems", "uniqueItems", "unevaluatedItems",
})
# Keywords that only constrain strings or numbers: no-ops on the row object.
SCALAR_KEYWORDS = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "format",
})
_NOT_ON_CELLS = OBJECT_KEYWORDS | ARRAY_KEYWORDS
_NOT_ON_ROWS = SCALAR_KEYWORDS | ARRAY_KEYWORDS


class Unsupported(Exception):
    """Raised inside the walk when a subschema must run through python-jsonschema."""


@dataclass(frozen=True)
class Check:
    column: str | None  # the error's path[0]; None for errors on the row itself
    keyword: str | None  # python-jsonschema's error.validator (None for a ``false`` schema)
    fails: pl.Expr


@lru_cache(maxsize=8)
def _specification(dialect: str) -> Any:
    return referencing.jsonschema.specification_with(dialect, default=referencing.Specification.OPAQUE)


@dataclass
class Scope:
    """Where the walk is: the python-jsonschema validator evolved to the current resource."""

    validator: Any
    depth: int = 0
    # The schema a $ref just resolved to: its resolver already stands in it, and
    # entering it again would apply its $id twice (python-jsonschema's descend
    # takes the resolved resolver as is).
    resolved: Any = None

    @property
    def draft4(self) -> bool:
        return issubclass(draft_of(self.validator), Draft4Validator)

    def enter(self, schema: Any) -> Scope:
        if self.depth > MAX_DEPTH:
            raise Unsupported("schema nests too deeply to vectorise")
        if schema is self.resolved:
            return Scope(self.validator.evolve(schema=schema), self.depth + 1)
        resolver = self.validator._resolver.in_subresource(self._specification.create_resource(schema))
        return Scope(self.validator.evolve(schema=schema, _resolver=resolver), self.depth + 1)

    def resolve(self, ref: str) -> tuple[Any, Scope]:
        resolved = self.validator._resolver.lookup(ref)
        validator = self.validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
        return resolved.contents, Scope(validator, self.depth + 1, resolved=resolved.contents)

    @property
    def _specification(self) -> Any:
        return _specification(self.validator.META_SCHEMA.get("$schema", "urn:unknown-dialect"))

    def applicable(self, schema: Mapping[str, Any]) -> Sequence[tuple[str, Any]]:
        # Drafts 4-7 ignore every sibling of $ref.
        if "$ref" in schema and issubclass(draft_of(self.validator), REF_OVERRIDES_SIBLINGS):
            return [("$ref", schema["$ref"])]
        return list(schema.items())


@dataclass
class Walk:
    """State shared by one compilation: the header, which keywords fell back,
    and the conditions under which a row is handed whole to python-jsonschema."""

    columns: dict[str, Cell]
    fallback_keywords: set[str] = field(default_factory=set)
    python_rows: list[pl.Expr] = field(default_factory=list)

    def in_python(self, condition: pl.Expr) -> None:
        """Rows where ``condition`` holds are validated by python-jsonschema, not by the checks."""
        self.python_rows.append(condition)

    def present(self, name: str) -> pl.Expr:
        cell = self.columns.get(name)
        return cell.present if cell is not None else pl.lit(False)


def any_of(exprs: Sequence[pl.Expr]) -> pl.Expr:
    if not exprs:
        return pl.lit(False)
    if len(exprs) == 1:
        return exprs[0]
    return pl.any_horizontal(exprs)


def valid(checks: Sequence[Check]) -> pl.Expr:
    return ~any_of([check.fails for check in checks])


def keyword_checks(
    schema: Mapping[str, Any], scope: Scope, ignored: frozenset[str],
    compile_keyword: Callable[[str, Any, Scope], list[Check]],
) -> list[Check]:
    """The walk of one subschema, as python-jsonschema's ``descend``: each keyword it applies
    (but those in ``ignored``), compiled by ``compile_keyword(keyword, value, scope within it)``."""
    inner = scope.enter(schema)
    checks: list[Check] = []
    for keyword, value in inner.applicable(schema):
        if keyword in inner.validator.VALIDATORS and keyword not in ignored:
            checks.extend(compile_keyword(keyword, value, inner))
    return checks


# --------------------------------------------------------------------------- cells


def cell_checks(schema: Any, cell: Cell, scope: Scope, walk: Walk) -> list[Check]:
    """Checks for one column's value against ``schema`` (python-jsonschema's ``descend``)."""
    if schema is True:
        return []
    if schema is False:
        return [Check(cell.name, None, pl.lit(True))]

    def compile_keyword(keyword: str, value: Any, inner: Scope) -> list[Check]:
        compile_cell = CELL_KEYWORDS.get(keyword)
        if compile_cell is None:
            return [python_cell_check(keyword, {keyword: value}, cell, inner, walk)]
        result = compile_cell(value, schema, cell, inner, walk)
        return [Check(cell.name, keyword, result)] if isinstance(result, pl.Expr) else result

    try:
        return keyword_checks(schema, scope, _NOT_ON_CELLS, compile_keyword)
    except Unsupported:
        return [python_cell_check("$ref", schema, cell, scope, walk)]


def python_cell_check(keyword: str, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> Check:
    """``schema`` run by python-jsonschema once per distinct cell value."""
    walk.fallback_keywords.add(keyword)
    validator = scope.validator.evolve(schema=schema)

    def fails(value: Any) -> bool:
        return value is not ABSENT_VALUE and not validator.is_valid(value)

    check = Check(cell.name, keyword, cell.where_python(cell.present, fails))
    # An in-place keyword reports its subschema's errors under their own names:
    # rows it fails go whole to python-jsonschema, which names them exactly.
    walk.in_python(check.fails)
    return check


def cell_type(name: str, cell: Cell, scope: Scope) -> pl.Expr:
    if name == "null":
        return cell.is_kind(NULL)
    if name == "boolean":
        return cell.is_kind(BOOLEAN)
    if name == "string":
        return cell.is_kind(STRING)
    if name == "number":
        return cell.is_kind(*NUMBER_KINDS)
    if name == "integer":
        exact = cell.is_kind(INT)
        if scope.draft4 or not cell.numeric:
            return exact
        value = cell.float64  # finite in FLOAT cells: the others go to Python
        return exact | (cell.is_kind(FLOAT) & (value == value.floor()))
    return pl.lit(False)  # object, array: a cell is never one


# The kinds each type name accepts whatever the value (an integral FLOAT needs a look).
_TYPE_KINDS = {"null": {NULL}, "boolean": {BOOLEAN}, "string": {STRING}, "number": set(NUMBER_KINDS),
               "integer": {INT}}


def kw_type(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr | list[Check]:
    names = [value] if isinstance(value, str) else list(value)
    accepted = set().union(*(_TYPE_KINDS.get(name, set()) for name in names))
    # Most columns allow exactly the types their `type` names: then it cannot fail, and
    # costs nothing. (An absent cell is never checked; PYTHON rows go to python-jsonschema.)
    if cell.possible_kinds - {ABSENT, PYTHON} <= accepted:
        return []
    return ~any_of([cell_type(name, cell, scope) for name in names])


def _member_match(members: Sequence[Any], cell: Cell) -> pl.Expr:
    """True where the cell's value equals one member (python-jsonschema's ``equal``)."""
    strings = [m for m in members if isinstance(m, str)]
    numbers = [m for m in members if isinstance(m, (int, float)) and not isinstance(m, bool)]
    matches: list[pl.Expr] = []
    if strings:
        matches.append(cell.is_kind(STRING) & cell.raw.is_in(strings))
    if any(m is None for m in members):
        matches.append(cell.is_kind(NULL))
    if any(m is True for m in members):
        matches.append(cell.is_kind(BOOLEAN) & cell.raw.is_in(TRUE_SPELLINGS))
    if any(m is False for m in members):
        matches.append(cell.is_kind(BOOLEAN) & ~cell.raw.is_in(TRUE_SPELLINGS))
    if numbers and cell.numeric:
        ints = {int(m) for m in numbers if isinstance(m, int) or (math.isfinite(m) and m.is_integer())}
        ints64 = [m for m in ints if INT64_MIN <= m <= INT64_MAX]
        floats = [float(m) for m in numbers if isinstance(m, float) or float(m) == m]
        if ints64:
            matches.append(cell.is_kind(INT) & cell.int64.is_in(ints64))
        if floats:
            matches.append(cell.is_kind(FLOAT) & cell.float64.is_in(floats))
    return any_of(matches)


def kw_enum(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return ~_member_match(list(value), cell)


def kw_const(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return ~_member_match([value], cell)


_FAILS = {"minimum": operator.lt, "maximum": operator.gt, "exclusiveMinimum": operator.le,
          "exclusiveMaximum": operator.ge}


def _int_compare(values: pl.Expr, op: Callable[[Any, Any], Any], bound: int | float) -> pl.Expr:
    """``op(value, bound)`` exactly, for Int64 values and any bound."""
    if isinstance(bound, float):
        if math.isinf(bound):
            return pl.lit(op(0, bound))
        if not bound.is_integer():
            # Move a fractional bound to the integer that gives the same answer on integers.
            bound = math.ceil(bound) if op in (operator.lt, operator.ge) else math.floor(bound)
        bound = int(bound)
    if bound > INT64_MAX or bound < INT64_MIN:
        return pl.lit(op(0, bound))
    return op(values, pl.lit(bound, pl.Int64))


def _number_fails(cell: Cell, op: Callable[[Any, Any], Any], bound: Any, walk: Walk) -> pl.Expr:
    parts = [cell.is_kind(INT) & _int_compare(cell.int64, op, bound)]
    if isinstance(bound, float) or abs(bound) <= EXACT_FLOAT_INT:
        parts.append(cell.is_kind(FLOAT) & op(cell.float64, pl.lit(float(bound))))
    else:
        walk.in_python(cell.is_kind(FLOAT))  # a float against an integer no float can hold
    return any_of(parts)


def kw_bound(keyword: str) -> Callable[..., pl.Expr | list[Check]]:
    def compile_bound(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr | list[Check]:
        if isinstance(value, bool):
            return []  # draft 4's boolean exclusiveMinimum/Maximum modifies minimum/maximum instead
        if not cell.numeric:
            return []
        op = _FAILS[keyword]
        if scope.draft4 and keyword in ("minimum", "maximum"):
            exclusive = schema.get("exclusiveMinimum" if keyword == "minimum" else "exclusiveMaximum", False)
            if exclusive:
                op = operator.le if keyword == "minimum" else operator.ge
        return _number_fails(cell, op, value, walk)

    return compile_bound


def kw_multiple_of(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    if not cell.numeric:
        return pl.lit(False)
    if isinstance(value, float):
        # python-jsonschema divides in floats and asks whether the quotient is integral.
        # Polars turns division by a scalar into multiplication by its reciprocal,
        # which rounds differently (8.3 / 0.01): divide by a column instead.
        divisor = pl.int_range(pl.len()).cast(pl.Float64) * 0.0 + value
        int_q = cell.int64.cast(pl.Float64) / divisor
        float_q = cell.float64 / divisor
        walk.in_python((cell.is_kind(INT) & ~int_q.is_finite()) | (cell.is_kind(FLOAT) & ~float_q.is_finite()))
        return (cell.is_kind(INT) & (int_q != int_q.floor())) | (cell.is_kind(FLOAT) & (float_q != float_q.floor()))
    if value > INT64_MAX:
        walk.in_python(cell.is_kind(INT, FLOAT))
        return pl.lit(False)
    # An integer divisor: a float passes only when it is an integer multiple.
    integral_float = cell.float64 == cell.float64.floor()
    small_float = integral_float & (cell.float64.abs() < 2.0**62)
    walk.in_python(cell.is_kind(FLOAT) & integral_float & ~small_float)
    return (
        (cell.is_kind(INT) & ((cell.int64 % value) != 0))
        | (cell.is_kind(FLOAT) & ~integral_float)
        | (cell.is_kind(FLOAT) & small_float & ((cell.float64.cast(pl.Int64, strict=False) % value) != 0))
    )


def kw_min_length(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return cell.is_kind(STRING) & (cell.raw.str.len_chars() < value)


def kw_max_length(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return cell.is_kind(STRING) & (cell.raw.str.len_chars() > value)


def _polars_accepts(pattern: str) -> bool:
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # noqa: BLE001 - Polars reports regex errors as ComputeError
        return False
    return True


def _matches_in_time(pattern: str, text: str) -> bool:
    try:
        return search(pattern, text)
    except PatternTooSlow:
        return False


def kw_pattern(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    strings = cell.is_kind(STRING)
    # Python's side runs under a time budget (patterns.search): a match past it
    # raises, and a value whose check raises fails.
    in_python = lambda v: not search(value, v)  # noqa: E731
    if runs_in_polars(value) and _polars_accepts(value):
        matches = lambda text: text.str.contains(value)  # noqa: E731
        # Python's $ also matches before a final newline; Rust's does not. A text
        # with a newline is matched by Python: per distinct value, else the row goes whole.
        if cell.repetitive:
            return strings & ~cell.text_check(matches, multiline=lambda text: _matches_in_time(value, text))
        walk.in_python(strings & cell.raw.str.contains("\n", literal=True))
        return strings & ~cell.text_check(matches)
    walk.fallback_keywords.add("pattern")
    return cell.where_python(strings, in_python)


def kw_format(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    checker = scope.validator.format_checker
    if checker is None or value not in checker.checkers:
        return pl.lit(False)
    strings = cell.is_kind(STRING)
    rule = FORMAT_RULES.get(value)
    in_python = lambda v: not checker.conforms(v, value)  # noqa: E731
    if rule is None:
        walk.fallback_keywords.add(f"format:{value}")
        return cell.where_python(strings, in_python)
    accepted = cell.text_check(rule.accepts)
    if rule.exact:
        return strings & ~accepted
    return cell.where_python(strings & ~accepted, in_python)


def kw_all_of(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> list[Check]:
    return [check for sub in value for check in cell_checks(sub, cell, scope, walk)]


def kw_any_of(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return ~any_of([valid(cell_checks(sub, cell, scope, walk)) for sub in value])


def _count_valid(branches: Sequence[pl.Expr]) -> pl.Expr:
    return pl.sum_horizontal(branches)  # booleans add up as UInt32


def kw_one_of(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return _count_valid([valid(cell_checks(sub, cell, scope, walk)) for sub in value]) != 1


def kw_not(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> pl.Expr:
    return valid(cell_checks(value, cell, scope, walk))


def _if_then_else(value: Any, schema: Any, checks_of: Callable[[Any], list[Check]]) -> list[Check]:
    condition = valid(checks_of(value))
    checks = []
    if "then" in schema:
        checks += [Check(c.column, c.keyword, condition & c.fails) for c in checks_of(schema["then"])]
    if "else" in schema:
        checks += [Check(c.column, c.keyword, ~condition & c.fails) for c in checks_of(schema["else"])]
    return checks


def kw_if(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> list[Check]:
    return _if_then_else(value, schema, lambda sub: cell_checks(sub, cell, scope, walk))


def kw_ref(value: Any, schema: Any, cell: Cell, scope: Scope, walk: Walk) -> list[Check]:
    target, target_scope = scope.resolve(value)
    return cell_checks(target, cell, target_scope, walk)


CELL_KEYWORDS: dict[str, Callable[..., pl.Expr | list[Check]]] = {
    "type": kw_type,
    "enum": kw_enum,
    "const": kw_const,
    "minimum": kw_bound("minimum"),
    "maximum": kw_bound("maximum"),
    "exclusiveMinimum": kw_bound("exclusiveMinimum"),
    "exclusiveMaximum": kw_bound("exclusiveMaximum"),
    "multipleOf": kw_multiple_of,
    "minLength": kw_min_length,
    "maxLength": kw_max_length,
    "pattern": kw_pattern,
    "format": kw_format,
    "allOf": kw_all_of,
    "anyOf": kw_any_of,
    "oneOf": kw_one_of,
    "not": kw_not,
    "if": kw_if,
    "$ref": kw_ref,
}


# --------------------------------------------------------------------------- rows


def row_checks(schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    """Checks for the row object against ``schema``."""
    if schema is True:
        return []
    if schema is False:
        return [Check(None, None, pl.lit(True))]

    def compile_keyword(keyword: str, value: Any, inner: Scope) -> list[Check]:
        compile_row = ROW_KEYWORDS.get(keyword)
        if compile_row is None:
            return [python_row_check(keyword, schema, inner, walk)]
        return compile_row(value, schema, inner, walk)

    return keyword_checks(schema, scope, _NOT_ON_ROWS, compile_keyword)


def python_row_check(keyword: str, schema: Any, scope: Scope, walk: Walk) -> Check:
    """``keyword`` of ``schema`` run by python-jsonschema on every row object.

    The whole subschema runs (``unevaluatedProperties`` depends on its
    siblings); only errors raised by ``keyword`` itself count.
    """
    walk.fallback_keywords.add(keyword)
    validator = scope.validator.evolve(schema=schema)

    def keyword_fails(row: dict[str, Any]) -> bool:
        if keyword == "$ref":  # python-jsonschema leaves $ref out of schema paths
            return not validator.is_valid(row)
        return any(e.relative_schema_path and e.relative_schema_path[0] == keyword for e in validator.iter_errors(row))

    cells = list(walk.columns.values())

    def evaluate(batch: pl.Series) -> pl.Series:
        fields = [batch.struct.field(cell.name).to_list() for cell in cells]
        results = []
        for texts in zip(*fields, strict=True):
            row = {}
            for cell, text in zip(cells, texts, strict=True):
                value = coerce_text(text, cell.allowed)
                if value is not ABSENT_VALUE:
                    row[cell.name] = value
            results.append(keyword_fails(row))
        return pl.Series(batch.name, results, dtype=pl.Boolean)

    if not cells:
        return Check(None, keyword, pl.lit(keyword_fails({})))
    struct = pl.struct([cell.raw for cell in cells])
    check = Check(None, keyword, struct.map_batches(evaluate, return_dtype=pl.Boolean))
    walk.in_python(check.fails)  # exact (column, keyword) names for the rows it fails
    return check


def _gate(checks: list[Check], condition: pl.Expr) -> list[Check]:
    return [Check(c.column, c.keyword, condition & c.fails) for c in checks]


def _property_checks(subschema: Any, name: str, scope: Scope, walk: Walk) -> list[Check]:
    cell = walk.columns.get(name)
    if cell is None:
        return []
    if subschema is False:
        # python-jsonschema's descend yields a false schema's error before it
        # prepends the property to the path: the error sits on the row.
        return [Check(None, None, cell.present)]
    return _gate(cell_checks(subschema, cell, scope, walk), cell.present)


def rw_type(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    names = [value] if isinstance(value, str) else list(value)
    return [] if "object" in names else [Check(None, "type", pl.lit(True))]


def rw_properties(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [check for name, sub in value.items() for check in _property_checks(sub, name, scope, walk)]


def rw_pattern_properties(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [
        check
        for regex, sub in value.items()
        for name in walk.columns
        if re.search(regex, name)
        for check in _property_checks(sub, name, scope, walk)
    ]


def _additional_columns(schema: Mapping[str, Any], walk: Walk) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [n for n in walk.columns if n not in properties and not any(re.search(p, n) for p in patterns)]


def rw_additional_properties(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    extras = _additional_columns(schema, walk)
    if isinstance(value, dict):
        return [check for name in extras for check in _property_checks(value, name, scope, walk)]
    if value is False and extras:
        return [Check(None, "additionalProperties", any_of([walk.present(n) for n in extras]))]
    return []


def rw_required(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "required", ~walk.present(name)) for name in value]


def _property_count(walk: Walk) -> pl.Expr:
    if not walk.columns:
        return pl.lit(0)
    return pl.sum_horizontal([cell.present for cell in walk.columns.values()])  # booleans add up as UInt32


def rw_min_properties(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "minProperties", _property_count(walk) < value)]


def rw_max_properties(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "maxProperties", _property_count(walk) > value)]


def rw_dependent_required(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [
        Check(None, "dependentRequired", walk.present(name) & ~walk.present(dependency))
        for name, dependencies in value.items()
        for dependency in dependencies
    ]


def rw_dependent_schemas(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [
        check
        for name, sub in value.items()
        for check in _gate(row_checks(sub, scope, walk), walk.present(name))
    ]


def rw_dependencies(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    checks: list[Check] = []
    for name, dependency in value.items():
        if isinstance(dependency, list):
            checks += [
                Check(None, "dependencies", walk.present(name) & ~walk.present(each)) for each in dependency
            ]
        else:
            checks += _gate(row_checks(dependency, scope, walk), walk.present(name))
    return checks


def rw_property_names(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    # Property names are the header: the verdict on each is known before reading a row.
    validator = scope.validator.evolve(schema=value) if value not in (True, False) else None
    checks = []
    for name, cell in walk.columns.items():
        if value is True:
            continue
        if value is False:
            checks.append(Check(None, None, cell.present))
            continue
        for error in validator.iter_errors(name):
            checks.append(Check(None, error.validator, cell.present))
    return checks


def rw_all_of(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [check for sub in value for check in row_checks(sub, scope, walk)]


def rw_any_of(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "anyOf", ~any_of([valid(row_checks(sub, scope, walk)) for sub in value]))]


def rw_one_of(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "oneOf", _count_valid([valid(row_checks(sub, scope, walk)) for sub in value]) != 1)]


def rw_not(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return [Check(None, "not", valid(row_checks(value, scope, walk)))]


def rw_if(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    return _if_then_else(value, schema, lambda sub: row_checks(sub, scope, walk))


def rw_ref(value: Any, schema: Any, scope: Scope, walk: Walk) -> list[Check]:
    target, target_scope = scope.resolve(value)
    if target_scope.depth > MAX_DEPTH:
        return [python_row_check("$ref", {"$ref": value}, scope, walk)]  # $ref is never in schema_path
    return row_checks(target, target_scope, walk)


ROW_KEYWORDS: dict[str, Callable[..., list[Check]]] = {
    "type": rw_type,
    "properties": rw_properties,
    "patternProperties": rw_pattern_properties,
    "additionalProperties": rw_additional_properties,
    "required": rw_required,
    "minProperties": rw_min_properties,
    "maxProperties": rw_max_properties,
    "dependentRequired": rw_dependent_required,
    "dependentSchemas": rw_dependent_schemas,
    "dependencies": rw_dependencies,
    "propertyNames": rw_property_names,
    "allOf": rw_all_of,
    "anyOf": rw_any_of,
    "oneOf": rw_one_of,
    "not": rw_not,
    "if": rw_if,
    "$ref": rw_ref,
}


# --------------------------------------------------------------------------- plan


# The keywords through which allowed_types looks for more type names.
_TYPE_CHILDREN = frozenset({"anyOf", "oneOf", "allOf", "then", "else", "not", "$ref"})


def allowed_types(subschema: Any, scope: Scope, seen: set[int] | None = None) -> frozenset[str] | None:
    """The typing contract's rule 4: types named by ``type`` in ``subschema`` and,
    recursively, its ``anyOf``/``oneOf``/``allOf``/``then``/``else``/``not`` and
    local ``$ref`` targets. ``None`` when no type is named: all are allowed."""
    seen = set() if seen is None else seen
    if not isinstance(subschema, dict) or id(subschema) in seen or scope.depth > MAX_DEPTH:
        return None
    seen.add(id(subschema))
    declared = subschema.get("type")
    named = {declared} if isinstance(declared, str) else {t for t in declared or () if isinstance(t, str)}
    if _TYPE_CHILDREN.isdisjoint(subschema):
        return frozenset(named) if named else None  # most columns: no scope to enter
    inner = scope.enter(subschema)
    children: list[tuple[Any, Scope]] = []
    for keyword in ("anyOf", "oneOf", "allOf"):
        if isinstance(subschema.get(keyword), list):
            children += [(child, inner) for child in subschema[keyword]]
    children += [(subschema[k], inner) for k in ("then", "else", "not") if k in subschema]
    if isinstance(subschema.get("$ref"), str):
        children.append(inner.resolve(subschema["$ref"]))
    for child, child_scope in children:
        named |= allowed_types(child, child_scope, seen) or set()
    return frozenset(named) if named else None


@dataclass(frozen=True)
class Plan:
    """The compiled checks for one schema and one header."""

    cells: tuple[Cell, ...]
    checks: tuple[Check, ...]
    fallback_keywords: tuple[str, ...]
    python_rows: pl.Expr  # true where the row goes whole to python-jsonschema

    def prelude(self) -> list[pl.Expr]:
        return [expr for cell in self.cells for expr in cell.prelude()]


def plan_cells(
    schema: Mapping[str, Any], validator: Any, header: Sequence[str], repetitive: Sequence[str] = ()
) -> tuple[Cell, ...]:
    """The header's columns as the typing contract sees them (allowed types, repetition)."""
    scope = Scope(validator)
    cells = []
    for index, name in enumerate(header):
        governing = governing_subschemas(schema, name)
        if not governing:
            allowed = None
        elif len(governing) == 1:  # most columns: their one property (allowed_types gives None, not empty)
            allowed = allowed_types(governing[0], scope)
        else:
            # As within one subschema: the types named across all governing subschemas.
            named = frozenset().union(*(allowed_types(sub, scope) or () for sub in governing))
            allowed = named or None
        cells.append(Cell(name, index, allowed, name in repetitive))
    return tuple(cells)


def build_plan(schema: Mapping[str, Any], validator: Any, cells: Sequence[Cell]) -> Plan:
    """Compile ``schema`` for a spreadsheet with these ``cells`` (see :func:`plan_cells`).

    Repetitive cells' costly string checks run once per distinct value.
    """
    scope = Scope(validator)
    walk = Walk({cell.name: cell for cell in cells})
    checks = row_checks(schema, scope, walk)
    for cell in cells:
        if cell.numeric:
            walk.in_python(cell.is_kind(PYTHON))
    return Plan(tuple(cells), tuple(checks), tuple(sorted(walk.fallback_keywords)), any_of(walk.python_rows))
