"""Loading and checking JSON Schemas, and the typing contract's view of them.

A schema is meta-validated against its draft before anything else looks at
it, so later stages can trust its shape. Remote references are refused here,
once, so nothing downstream ever fetches a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import jsonschema.validators
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.exceptions import best_match

from airflow_provider_typecheck.validation.errors import SchemaError

DRAFTS: dict[type, str] = {
    Draft4Validator: "4",
    Draft6Validator: "6",
    Draft7Validator: "7",
    Draft201909Validator: "2019-09",
    Draft202012Validator: "2020-12",
}

# Drafts 4-7: an id beside $ref does not change the base URI.
_REF_OVERRIDES_ID = (Draft4Validator, Draft6Validator, Draft7Validator)

# Keywords whose values are data, not subschemas: never walk into them.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose value maps arbitrary names to subschemas.
_NAMED_SUBSCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)


def json_pointer(parts: Iterator[Any] | list[Any]) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a JSON Schema file and check it; errors name the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SchemaError(f"schema file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"cannot read schema file {path}: {err}") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    check_schema(schema)
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


def check_schema(schema: object) -> str:
    """Meta-validate ``schema`` and return its draft name (``"2020-12"``, ``"7"``, ...).

    Raises :class:`SchemaError` naming the bad keyword and its JSON pointer when
    the schema is not an object, fails its draft's meta-schema, holds a regular
    expression Python cannot compile, or references anything outside itself.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"the schema must be a JSON object, not {type(schema).__name__}")
    # Loading a schema and compiling it both check it: the same content is checked once.
    try:
        text = json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise SchemaError(f"the schema is not JSON: {err}") from None
    return _check_schema_text(text)


@lru_cache(maxsize=256)
def _check_schema_text(text: str) -> str:
    schema = json.loads(text)
    cls = validator_class(schema)
    error = best_match(cls(cls.META_SCHEMA).iter_errors(_distinct_properties(schema)))
    if error is not None:
        pointer = json_pointer(error.absolute_path)
        keyword = error.absolute_path[-1] if error.absolute_path else error.validator
        raise SchemaError(f"{keyword!r}: {error.message}", pointer)
    for pointer, regex in _regexes(schema, []):
        try:
            re.compile(regex)
        except re.error as err:
            raise SchemaError(f"{regex!r} is not a valid regular expression: {err}", pointer) from None
    _check_references(schema, cls)
    return DRAFTS[cls]


def _distinct_properties(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each distinct root ``properties`` subschema once, for meta-validation.

    The meta-schema checks every property's subschema alone, so equal ones
    pass or fail alike; a wide schema (10,000 columns of a few kinds) is
    checked in the time of its kinds, not of its columns.
    """
    properties = schema.get("properties")
    if not isinstance(properties, dict) or len(properties) < 2:
        return schema
    first_of_kind: dict[str, str] = {}
    for name, sub in properties.items():
        first_of_kind.setdefault(json.dumps(sub, sort_keys=True), name)
    if len(first_of_kind) == len(properties):
        return schema
    return {**schema, "properties": {name: properties[name] for name in first_of_kind.values()}}


def _subschemas(schema: Any, path: list[Any]) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every object subschema with its path, the root first."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key, value in schema.items():
        if key in _DATA_KEYWORDS:
            continue
        if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
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


def _check_references(schema: dict[str, Any], cls: type) -> None:
    """Refuse references that leave the document: they would need a fetch."""
    id_keyword = "id" if cls is Draft4Validator else "$id"
    local_documents: set[str] = set()
    references: list[tuple[str, str, str, str]] = []

    def walk(sub: Any, path: list[Any], base: str) -> None:
        if not isinstance(sub, dict):
            return
        if isinstance(sub.get(id_keyword), str) and not ("$ref" in sub and cls in _REF_OVERRIDES_ID):
            base = urljoin(base, sub[id_keyword])
        local_documents.add(urldefrag(base)[0])
        for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
            # A fragment-only reference stays in the current document, whatever its URI scheme.
            if isinstance(sub.get(keyword), str) and not sub[keyword].startswith("#"):
                references.append((keyword, sub[keyword], json_pointer([*path, keyword]), urljoin(base, sub[keyword])))
        for key, value in sub.items():
            if key in _DATA_KEYWORDS:
                continue
            if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
                for name, child in value.items():
                    walk(child, [*path, key, name], base)
            elif isinstance(value, dict):
                walk(value, [*path, key], base)
            elif isinstance(value, list):
                for index, child in enumerate(value):
                    walk(child, [*path, key, index], base)

    walk(schema, [], "")
    for keyword, ref, pointer, target in references:
        if urldefrag(target)[0] not in local_documents:
            raise SchemaError(
                f"{keyword} {ref!r} points outside this schema; remote references are refused, "
                "inline the referenced schema under $defs instead",
                pointer,
            )


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
