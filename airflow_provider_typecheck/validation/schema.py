"""Loading and checking JSON Schemas, and the typing contract's view of them.

A schema is meta-validated against its draft before anything else looks at
it, so later stages can trust its shape. Remote references, references that
loop without descending into a value, and schemas past the size and depth
limits are refused here, once, so nothing downstream ever fetches a URL or
recurses without end.
"""

from __future__ import annotations

import json
import os
import re
import stat
import warnings
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import attrs
import jsonschema.validators
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from airflow_provider_typecheck.validation import patterns
from airflow_provider_typecheck.validation.errors import SchemaError
from airflow_provider_typecheck.validation.reference_chains import (
    DATA_KEYWORDS,
    NAMED_SUBSCHEMAS,
    REFERENCES,
    check_in_place_chains,
    json_pointer,
)
from airflow_provider_typecheck.validation.references import new_validator
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH


DRAFTS: dict[type, str] = {
    Draft4Validator: "4",
    Draft6Validator: "6",
    Draft7Validator: "7",
    Draft201909Validator: "2019-09",
    Draft202012Validator: "2020-12",
}

def load_schema(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> dict[str, Any]:
    """Read a JSON Schema file and check it (see :func:`check_schema`); errors name the file and the problem."""
    schema = read_schema(path, max_bytes=max_bytes, max_depth=max_depth)
    check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
    return schema


def read_schema(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> Any:
    """Read and parse a JSON Schema file, not yet checked: for a caller that hands it to
    ``compile_schema`` next, which checks it (checking a 10,000-column schema twice costs
    a tenth of a second). Errors name the file and the problem, as :func:`load_schema`'s do."""
    try:
        status = os.stat(path)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(status.st_mode):
            # A FIFO would block opening it, a device be read forever.
            raise SchemaError(f"schema file {path} is not a regular file")
        if status.st_size > max_bytes:
            raise SchemaError(f"schema file {path} is {status.st_size:,} bytes; the limit is {max_bytes:,}")
        with open(path, "rb") as handle:
            text = handle.read(max_bytes + 1).decode("utf-8-sig")
    except FileNotFoundError:
        raise SchemaError(f"schema file not found: {path}") from None
    except IsADirectoryError:
        raise SchemaError(f"schema file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"cannot read schema file {path}: {err}") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise SchemaError(f"{path} nests deeper than {max_depth} levels") from None
    return schema


def validator_class(schema: Mapping[str, Any]) -> type:
    """The python-jsonschema validator class for the schema's ``$schema`` (default 2020-12)."""
    cls = jsonschema.validators.validator_for(schema, default=None)
    if cls is None:
        if "$schema" in schema:
            raise SchemaError(
                f"unsupported $schema {schema['$schema']!r}: use draft 4, 6, 7, 2019-09 or 2020-12",
                "/$schema",
            )
        cls = Draft202012Validator
    if cls not in DRAFTS:
        raise SchemaError(
            f"unsupported $schema {schema['$schema']!r}: use draft 4, 6, 7, 2019-09 or 2020-12", "/$schema"
        )
    return cls


def check_schema(
    schema: object, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> str:
    """Meta-validate ``schema`` and return its draft name (``"2020-12"``, ``"7"``, ...).

    Raises :class:`SchemaError` naming the bad keyword and its JSON pointer when
    the schema is not an object, is longer than ``max_bytes`` as compact JSON,
    nests deeper than ``max_depth`` (objects and arrays, or a chain of
    references and in-place keywords such as ``allOf``), fails its draft's
    meta-schema, holds a regular expression Python cannot compile (or one the
    ``regex`` package would read otherwise), references anything outside
    itself, or holds references that loop without descending into a value
    (``{"$ref": "#"}``): python-jsonschema would recurse without end there.
    """
    return checked_text(schema, max_bytes=max_bytes, max_depth=max_depth)[1]


def checked_text(
    schema: object, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> tuple[str, str]:
    """:func:`check_schema`, returning the schema as compact JSON (keys in their order) and its draft.

    The text is what ``compile_schema`` keys and copies its compiled schema by: checking
    and compiling serialise (and walk) the schema once between them.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"the schema must be a JSON object, not {type(schema).__name__}")
    # Before anything recursive (json.dumps included) looks at it.
    if _nesting_depth(schema, max_depth) > max_depth:
        raise SchemaError(f"the schema nests deeper than {max_depth} levels")
    # Loading a schema and compiling it both check it: the same content is checked once.
    try:
        text = json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise SchemaError(f"the schema is not JSON: {err}") from None
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise SchemaError(f"the schema is {len(text.encode()):,} bytes as compact JSON; the limit is {max_bytes:,}")
    return text, _check_schema_text(text, max_depth)


def _nesting_depth(value: Any, limit: int) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0); stops counting past ``limit``."""
    # Level by level: a 10,000-column schema is three wide levels, walked in list comprehensions.
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level and depth <= limit:
        depth += 1
        children: list[Any] = []
        for item in level:
            children.extend(item.values() if isinstance(item, dict) else item)
        level = [child for child in children if isinstance(child, (dict, list))]
    return depth


@lru_cache(maxsize=256)
def _check_schema_text(text: str, max_depth: int) -> str:
    schema = json.loads(text)
    cls = validator_class(schema)
    error = best_match(new_validator(cls, cls.META_SCHEMA).iter_errors(_distinct_properties(schema)))
    if error is not None:
        pointer = json_pointer(error.absolute_path)
        keyword = error.absolute_path[-1] if error.absolute_path else error.validator
        raise SchemaError(f"{keyword!r}: {error.message}", pointer)
    # The compact text holds every key as "key": a schema without the word has none of them
    # (the walks cost 0.1 s on a 10,000-column schema).
    for pointer, regex in _regexes(schema, []) if '"pattern' in text else ():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": refused below
                re.compile(regex)
        except re.error as err:
            raise SchemaError(f"{regex!r} is not a valid regular expression: {err}", pointer) from None
        if patterns.ambiguous_for_regex(regex):
            raise SchemaError(
                f"{regex!r} holds a POSIX class ([:alpha:]) or braces that are not a repeat count; "
                "Python's re reads them literally and the regex engine otherwise: escape them (\\[, \\{)",
                pointer,
            )
    if any(f'"{key}":' in text for key in REFERENCES):
        # Without references no chain loops, and none is longer than the nesting, checked already.
        check_in_place_chains(schema, cls, max_depth)
    # The check only read its parse: compile_schema, which parses the same text next, may take it.
    _unclaimed_parse.clear()
    _unclaimed_parse[text] = schema
    return DRAFTS[cls]


# The last checked text's parse, until parsed_text takes it (one: a schema may be megabytes).
_unclaimed_parse: dict[str, Any] = {}


def parsed_text(text: str) -> Any:
    """``json.loads(text)``: a parse held by no one else (the check's, when it checked ``text`` last)."""
    parsed = _unclaimed_parse.pop(text, None)  # one atomic step: two threads never both get it
    return json.loads(text) if parsed is None else parsed


def _pattern_within_budget(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """python-jsonschema's ``pattern`` keyword, matched by :func:`patterns.search` under its time budget."""
    if not validator.is_type(instance, "string"):
        return
    try:
        if patterns.search(pattern, instance):
            return
        message = f"{instance!r} does not match {pattern!r}"
    except patterns.PatternTooSlow:
        message = patterns.too_slow_message(pattern, instance)
    yield ValidationError(message)


@lru_cache(maxsize=None)
def bounded_validator_class(draft: type) -> type:
    """``draft``'s python-jsonschema class with ``pattern`` matched under a time budget.

    ``re.search`` has no bound: ``^(a|aa)+$`` against forty ``a`` and a ``b``
    would run for hours. Its ``evolve`` keeps the bound when a schema with a
    ``$schema`` (the root, reached again by a ``$ref``) picks the class anew.
    """
    cls = jsonschema.validators.extend(draft, {"pattern": _pattern_within_budget})
    cls.DRAFT = draft

    def evolve(self: Any, **changes: Any) -> Any:
        schema = changes.setdefault("schema", self.schema)
        evolved = bounded_validator_class(jsonschema.validators.validator_for(schema, default=draft))
        for attribute in attrs.fields(type(self)):
            if attribute.init and attribute.alias not in changes:
                changes[attribute.alias] = getattr(self, attribute.name)
        return evolved(**changes)

    cls.evolve = evolve
    return cls


def draft_of(validator: Any) -> type:
    """The registered python-jsonschema class (``Draft7Validator``, ...) a validator checks by."""
    return getattr(type(validator), "DRAFT", type(validator))


def _distinct_properties(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each distinct root ``properties`` subschema once, and a ``required`` of
    unique names cut to one, for meta-validation.

    The meta-schema checks every property's subschema alone, so equal ones
    pass or fail alike; a wide schema (10,000 columns of a few kinds) is
    checked in the time of its kinds, not of its columns.
    """
    required = schema.get("required")
    if (isinstance(required, list) and len(required) > 1 and all(isinstance(name, str) for name in required)
            and len(set(required)) == len(required)):
        # Unique names pass every draft's meta-schema (strings, unique, at least one) as one does.
        schema = {**schema, "required": required[:1]}
    properties = schema.get("properties")
    if not isinstance(properties, dict) or len(properties) < 2:
        return schema
    # repr tells 1 from 1.0 and true apart, as JSON would, at a third of json.dumps' cost (the
    # schema is JSON-parsed text here). Equal subschemas with their keys in another order
    # are checked apart: a few more, never fewer.
    first_of_kind: dict[str, str] = {}
    for name, sub in properties.items():
        first_of_kind.setdefault(repr(sub), name)
    if len(first_of_kind) == len(properties):
        return schema
    return {**schema, "properties": {name: properties[name] for name in first_of_kind.values()}}


def _subschemas(schema: Any, path: list[Any]) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every object subschema with its path, the root first."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key, value in schema.items():
        if key in DATA_KEYWORDS:
            continue
        if key in NAMED_SUBSCHEMAS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _subschemas(sub, [*path, key, name])
        elif isinstance(value, dict):
            yield from _subschemas(value, [*path, key])
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _subschemas(sub, [*path, key, index])


def _regexes(schema: dict[str, Any], root: list[Any]) -> Iterator[tuple[str, str]]:
    for path, sub in _subschemas(schema, root):
        if isinstance(sub.get("pattern"), str):
            yield json_pointer([*path, "pattern"]), sub["pattern"]
        if isinstance(sub.get("patternProperties"), dict):
            for regex in sub["patternProperties"]:
                yield json_pointer([*path, "patternProperties", regex]), regex


def governing_subschemas(root: Mapping[str, Any], column: str) -> list[Any]:
    """The root subschemas that govern how ``column``'s cells are typed.

    ``properties[column]`` if present; else every ``patternProperties`` entry
    whose regex matches the name; else ``additionalProperties`` when it is a
    schema. An empty list means nothing governs the column.
    """
    properties = root.get("properties")
    if isinstance(properties, dict) and column in properties:
        return [properties[column]]
    pattern_properties = root.get("patternProperties")
    if isinstance(pattern_properties, dict):
        matching = [sub for regex, sub in pattern_properties.items() if re.search(regex, column)]
        if matching:
            return matching
    additional = root.get("additionalProperties")
    if isinstance(additional, (dict, bool)):
        return [additional]
    return []
