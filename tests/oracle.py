"""An independent, row-by-row reference for the validation engine.

This module is written from the typing contract alone (quoted below), not
from the engine, so the engine can be checked against it.  It favours
readability over speed: every row is coerced in plain Python and validated
with python-jsonschema.

The typing contract
-------------------
Spreadsheets hold text; JSON Schema speaks of JSON values. Each row becomes a
JSON object keyed by the header's column names:

1. Every cell is taken as text. (XLSX/XLS cells are first turned into the text
   a person sees.)
2. An empty cell is ``null`` where the column's schema allows type null;
   otherwise the property is absent (so ``required`` catches it).
3. Non-empty text becomes a boolean (``true``/``false``, any case) where the
   column's schema allows boolean; a JSON number where it allows integer or
   number and the text is a plain decimal numeral
   (``^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$``; an integer
   (Python int, arbitrary size) when it is only optional sign and digits,
   otherwise a Python float; no trimming, no thousands separators); otherwise
   it stays a string. Boolean takes precedence over number.
4. "The column's schema allows" means the union of the types named by
   ``type`` in the property's subschema and, recursively, in its
   ``anyOf``/``oneOf``/``allOf``/``then``/``else``/``not`` and local ``$ref``
   targets (guard cycles). If no type is named anywhere in that recursion, all
   types are allowed. ``integer`` or ``number`` allowed -> numerals become
   numbers. A column not in ``properties`` is governed by the matching
   ``patternProperties`` subschemas (all that match, ``re.search``), else by
   ``additionalProperties`` when that is a schema (boolean ``true``/``false``
   subschemas name no type, i.e. they allow all). A column governed by nothing
   allows all types. The boolean subschema ``false`` as a property schema also
   names no type.

Then the row object is validated with python-jsonschema: the draft from
``$schema`` (default 2020-12) via
``jsonschema.validators.validator_for(schema, default=Draft202012Validator)``,
with ``format_checker=ValidatorClass.FORMAT_CHECKER``. Each error gives
(column = ``error.path[0]`` if the path is non-empty else None,
keyword = ``error.validator``).

Two readings of the text, made explicit here:

* "plain decimal numeral" must match the *whole* cell: ``"1\\n"`` stays a
  string (Python's ``$`` would also match before a final newline, so the
  oracle uses ``re.fullmatch``).
* A "local ``$ref``" is any ref that resolves inside the schema document:
  JSON pointers, plain-name anchors and URIs of embedded ``$id`` resources,
  resolved against the base URI in scope exactly as python-jsonschema does
  (through ``referencing``).  Refs to other documents name no type.
* Several matching ``patternProperties`` subschemas are read together, like
  an ``allOf``: their named types are united, and all types are allowed only
  when none of them names a type.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import polars as pl
    from referencing import Resolver, Specification

ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})

DECIMAL_NUMERAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
INTEGER_NUMERAL = re.compile(r"[+-]?[0-9]+")

# Keywords whose subschemas take part in the "allowed types" recursion (rule 4).
_SINGLE_SUBSCHEMA_KEYWORDS = ("then", "else", "not")
_LIST_SUBSCHEMA_KEYWORDS = ("anyOf", "oneOf", "allOf")

Column = str | None
ErrorKey = tuple[Column, str]


def _root_resolver(schema: Any) -> tuple[Resolver, Specification]:
    """A resolver for the refs of ``schema``, with the base URIs python-jsonschema would use.

    Only the schema itself is registered and nothing is ever retrieved, so a
    ref that points outside the document is unresolvable and names no type.
    """
    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    specification = specification_with(dialect, default=DRAFT202012) if isinstance(dialect, str) else DRAFT202012
    return Registry().resolver_with_root(specification.create_resource(schema)), specification


def _entering(child: Any, resolver: Resolver, specification: Specification) -> Resolver:
    """The resolver in scope inside ``child``: as in python-jsonschema, an ``$id`` changes the base URI."""
    if not isinstance(child, dict):
        return resolver  # draft 4 has no boolean schemas to look an id up in
    return resolver.in_subresource(specification.create_resource(child))


def _named_types(subschema: Any, resolver: Resolver, specification: Specification, visiting: set[int]) -> set[str]:
    """Types named by ``type`` in ``subschema`` and its rule-4 descendants.

    ``resolver`` resolves refs against the base URI in scope at ``subschema``.
    """
    if not isinstance(subschema, dict) or id(subschema) in visiting:
        return set()  # boolean subschemas name no type; a cycle adds nothing new
    visiting.add(id(subschema))

    def descend(child: Any) -> set[str]:
        return _named_types(child, _entering(child, resolver, specification), specification, visiting)

    named: set[str] = set()
    declared = subschema.get("type")
    if isinstance(declared, str):
        named.add(declared)
    elif isinstance(declared, list):
        named.update(t for t in declared if isinstance(t, str))
    for keyword in _SINGLE_SUBSCHEMA_KEYWORDS:
        if keyword in subschema:
            named |= descend(subschema[keyword])
    for keyword in _LIST_SUBSCHEMA_KEYWORDS:
        if isinstance(subschema.get(keyword), list):
            for branch in subschema[keyword]:
                named |= descend(branch)
    ref = subschema.get("$ref")
    if isinstance(ref, str):
        try:
            target = resolver.lookup(ref)
        except Unresolvable:
            pass  # not in this document: the engine refuses such schemas anyway
        else:
            named |= _named_types(target.contents, target.resolver, specification, visiting)
    return named


def governing_subschemas(column: str, schema: Any) -> list[Any]:
    """The subschemas that decide how ``column``'s cells are typed."""
    if not isinstance(schema, dict):
        return []
    properties = schema.get("properties")
    if isinstance(properties, dict) and column in properties:
        return [properties[column]]
    pattern_properties = schema.get("patternProperties")
    if isinstance(pattern_properties, dict):
        matching = [sub for pattern, sub in pattern_properties.items() if re.search(pattern, column)]
        if matching:
            return matching
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict | bool):
        return [additional]
    return []


def allowed_types(column: str, schema: Any) -> frozenset[str]:
    """The JSON types ``column``'s schema allows, as rule 4 defines them."""
    resolver, specification = _root_resolver(schema)
    visiting: set[int] = set()
    named: set[str] = set()
    for subschema in governing_subschemas(column, schema):
        named |= _named_types(subschema, _entering(subschema, resolver, specification), specification, visiting)
    return frozenset(named) if named else ALL_TYPES


def coerce_cell(text: str | None, allowed: frozenset[str]) -> tuple[bool, Any]:
    """``(present, value)`` for one cell under a column's allowed types."""
    if text is None or text == "":
        if "null" in allowed:
            return True, None
        return False, None
    if "boolean" in allowed and text.lower() in ("true", "false"):
        return True, text.lower() == "true"
    if ("integer" in allowed or "number" in allowed) and DECIMAL_NUMERAL.fullmatch(text):
        if INTEGER_NUMERAL.fullmatch(text):
            return True, int(text)
        return True, float(text)
    return True, text


def coerce_row(cells: Mapping[str, str | None], schema: Any) -> dict[str, Any]:
    """The JSON object the contract makes of one spreadsheet row."""
    row: dict[str, Any] = {}
    for column, text in cells.items():
        present, value = coerce_cell(text, allowed_types(column, schema))
        if present:
            row[column] = value
    return row


def reference_validator(schema: Any):
    """A python-jsonschema validator for ``schema``, configured as the contract says."""
    validator_class = validator_for(schema, default=Draft202012Validator)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def reference_errors(rows: Iterable[Mapping[str, str | None]], schema: Any) -> list[list[ErrorKey]]:
    """Per row, the (column, keyword) of every error python-jsonschema yields."""
    validator = reference_validator(schema)
    result = []
    for cells in rows:
        errors = validator.iter_errors(coerce_row(cells, schema))
        result.append([(error.path[0] if error.path else None, error.validator) for error in errors])
    return result


def reference_counts(
    rows: Iterable[Mapping[str, str | None]], schema: Any
) -> tuple[dict[str, dict[str, int]], set[int]]:
    """``({column or "": {keyword: count}}, invalid spreadsheet row numbers)``.

    Spreadsheet rows are numbered from 2: row 1 is the header.
    """
    counts: dict[str, Counter[str]] = {}
    invalid: set[int] = set()
    for index, errors in enumerate(reference_errors(rows, schema)):
        if errors:
            invalid.add(index + 2)
        for column, keyword in errors:
            counts.setdefault(column if column is not None else "", Counter())[keyword] += 1
    return {column: dict(keywords) for column, keywords in counts.items()}, invalid


def reference_error_set(rows: Iterable[Mapping[str, str | None]], schema: Any) -> set[tuple[int, Column, str]]:
    """Every distinct (spreadsheet row, column, keyword) python-jsonschema reports."""
    return {
        (index + 2, column, keyword)
        for index, errors in enumerate(reference_errors(rows, schema))
        for column, keyword in errors
    }


def rows_of(frame: pl.DataFrame) -> list[dict[str, str | None]]:
    """A frame of text columns as the list of cell mappings the oracle takes."""
    return frame.to_dicts()
