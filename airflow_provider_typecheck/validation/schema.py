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
from urllib.parse import urldefrag, urljoin

import attrs
import jsonschema.validators
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from airflow_provider_typecheck.validation import patterns
from airflow_provider_typecheck.validation.errors import SchemaError
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH


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


def load_schema(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> dict[str, Any]:
    """Read a JSON Schema file and check it (see :func:`check_schema`); errors name the file and the problem."""
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
    check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
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
    return _check_schema_text(text, max_depth)


def _nesting_depth(value: Any, limit: int) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0); stops counting past ``limit``."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


@lru_cache(maxsize=256)
def _check_schema_text(text: str, max_depth: int) -> str:
    schema = json.loads(text)
    cls = validator_class(schema)
    error = best_match(cls(cls.META_SCHEMA).iter_errors(_distinct_properties(schema)))
    if error is not None:
        pointer = json_pointer(error.absolute_path)
        keyword = error.absolute_path[-1] if error.absolute_path else error.validator
        raise SchemaError(f"{keyword!r}: {error.message}", pointer)
    for pointer, regex in _regexes(schema, []):
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
    _check_references(schema, cls)
    _check_in_place_chains(schema, cls, max_depth)
    return DRAFTS[cls]


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


# Keywords that apply their subschemas to the very value being checked: a chain of
# them does not get shorter as the value gets smaller, so a loop never ends.
_IN_PLACE_SCHEMAS = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAPS = ("dependentSchemas", "dependencies")
_REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")


def _check_in_place_chains(schema: dict[str, Any], cls: type, max_depth: int) -> None:
    """Refuse references that loop back without descending into a value, and chains of
    references and in-place keywords longer than ``max_depth``.

    A tree (``"items": {"$ref": "#"}``) descends into a smaller value at each
    turn and ends; ``{"$ref": "#"}`` or ``a -> allOf -> b -> a`` never does, and
    python-jsonschema would recurse until Python's stack runs out.
    """
    specification = referencing.jsonschema.specification_with(
        cls.META_SCHEMA.get("$schema", ""), default=referencing.Specification.OPAQUE
    )
    id_keyword = "id" if cls is Draft4Validator else "$id"
    nodes: dict[int, tuple[Any, Any, str]] = {}  # id -> (subschema, its resolver, where it is)

    def collect(sub: Any, resolver: Any, path: list[Any]) -> None:
        if not isinstance(sub, dict) or id(sub) in nodes:
            return
        if id_keyword in sub:  # only an id moves the base URI that references resolve against
            resolver = resolver.in_subresource(specification.create_resource(sub))
        nodes[id(sub)] = (sub, resolver, json_pointer(path))
        for key, value in sub.items():
            if key in _DATA_KEYWORDS:
                continue
            if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
                for name, child in value.items():
                    collect(child, resolver, [*path, key, name])
            elif isinstance(value, dict):
                collect(value, resolver, [*path, key])
            elif isinstance(value, list):
                for index, child in enumerate(value):
                    collect(child, resolver, [*path, key, index])

    collect(schema, cls(schema)._resolver, [])

    edges: dict[int, list[int]] = {}

    def in_place(node_id: int) -> list[int]:
        if node_id not in edges:
            edges[node_id] = _in_place_children(node_id)
        return edges[node_id]

    def _in_place_children(node_id: int) -> list[int]:
        sub, resolver, where = nodes[node_id]
        children = [sub[key] for key in _IN_PLACE_SCHEMAS if key in sub]
        children += [child for key in _IN_PLACE_LISTS if isinstance(sub.get(key), list) for child in sub[key]]
        children += [child for key in _IN_PLACE_MAPS if isinstance(sub.get(key), dict)
                     for child in sub[key].values() if isinstance(child, dict)]
        for key in _REFERENCES:
            if isinstance(sub.get(key), str):
                try:
                    resolved = resolver.lookup(sub[key])
                except referencing.exceptions.Unresolvable:
                    raise SchemaError(f"{key} {sub[key]!r} cannot be resolved within this schema",
                                      where) from None
                if id(resolved.contents) not in nodes and isinstance(resolved.contents, dict):
                    nodes[id(resolved.contents)] = (resolved.contents, resolved.resolver, f"{where} -> {sub[key]}")
                children.append(resolved.contents)
        return [id(child) for child in children if isinstance(child, dict)]

    # Longest chain from each subschema, depth first without recursion; a subschema met
    # again while its own chain is being followed closes a loop.
    longest: dict[int, int] = {}
    for start in list(nodes):
        if start in longest:
            continue
        stack = [(start, iter(in_place(start)))]
        on_path = {start}
        while stack:
            node_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node_id)
                longest[node_id] = 1 + max((longest[c] for c in in_place(node_id)), default=0)
                if longest[node_id] > max_depth:
                    raise SchemaError(
                        f"references and in-place keywords (allOf, not, $ref, ...) chain deeper than {max_depth}",
                        nodes[start][2],
                    )
            elif child in on_path:
                raise SchemaError(
                    "this subschema leads back to itself through references and in-place keywords "
                    "(allOf, anyOf, not, $ref, ...) without descending into a property or an item: "
                    "validating would never end",
                    nodes[child][2],
                )
            elif child not in longest:
                on_path.add(child)
                stack.append((child, iter(in_place(child))))


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
