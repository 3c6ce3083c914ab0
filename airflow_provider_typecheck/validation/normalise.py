"""Normalise a schema before planning: the flat form of a schema that means the same to a header's rows.

Generated and hand-written schemas often say with a root ``allOf``, ``$ref``s to
``$defs``/``definitions``, or draft-04's boolean ``exclusiveMaximum``, what a
flat schema says with root ``properties``. The native pre-scan plans from the
flat form given here; every verdict it is unsure of, and every message, still
comes from python-jsonschema on the ORIGINAL schema, so normalising may only
ever keep a verdict, never change one: anything not plainly equivalent is left
alone (``None``), and the file takes the ordinary path.

Two views, both exact for verdicts:

* :func:`flat_view` — the root: ``{"properties": {column: subschema}, "required": [...]}``
  for the header's columns, whose verdict on every row object equals the original's.
  Its subschemas are the original's, unchanged (``$ref``s and all), evaluated by
  python-jsonschema from the root as the original does.
* :func:`native_parts` — a column's subschema as a list of keyword sets that must all
  hold, ``$ref``s followed, ``allOf`` opened, annotations, unknown keywords and
  unchecked formats dropped, and draft-04's boolean bounds made numeric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft3Validator, Draft4Validator, Draft6Validator, Draft7Validator
from jsonschema.validators import validator_for

from airflow_provider_typecheck.validation.schema import draft_of

# Drafts 4-7 ignore every sibling of ``$ref`` (python-jsonschema's ``ignore_ref_siblings``).
REF_OVERRIDES_SIBLINGS = (Draft3Validator, Draft4Validator, Draft6Validator, Draft7Validator)
# Root keywords a flat schema keeps.
_FLAT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})
# Keywords that change where ``$ref``s resolve or which draft applies, or refer through the
# dynamic scope: a branch holding one is left alone (it would not evaluate alike from the root).
_SCOPE_KEYWORDS = frozenset({"$id", "$dynamicRef", "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor"})
# Keywords of one cell that a native rule takes: numbers, lengths and format.
NATIVE_KEYWORDS = frozenset({
    "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "format",
})
# A ``$ref`` chain or ``allOf`` nesting deeper than this is left alone.
_MAX_DEPTH = 32


def _applicable(schema: Mapping[str, Any], validator: Any) -> Mapping[str, Any]:
    """The keywords python-jsonschema applies: only ``$ref`` where drafts 4-7 ignore its siblings."""
    if "$ref" in schema and issubclass(draft_of(validator), REF_OVERRIDES_SIBLINGS):
        return {"$ref": schema["$ref"]}
    return schema


def _changes_scope(schema: Mapping[str, Any], validator: Any) -> bool:
    """Whether a subschema below the root sets a base URI, another dialect or a dynamic reference."""
    if _SCOPE_KEYWORDS & set(schema):
        return True
    if "$schema" in schema and validator_for(schema, default=None) is not draft_of(validator):
        return True  # python-jsonschema evaluates it by its own draft
    return issubclass(draft_of(validator), Draft4Validator) and isinstance(schema.get("id"), str)


def _lookup(validator: Any, resolver: Any, ref: Any) -> tuple[Any, Any] | None:
    """A ``$ref``'s target and the resolver within it; None when it cannot be followed here."""
    if not isinstance(ref, str):
        return None
    try:
        resolved = resolver.lookup(ref)
    except Exception:  # noqa: BLE001 - unresolvable here: the ordinary path reports it
        return None
    return resolved.contents, resolved.resolver


def _object_branches(schema: Any, validator: Any, resolver: Any, seen: frozenset[int], depth: int,
                     out: list[Mapping[str, Any]]) -> bool:
    """Collect into ``out`` the object-level schemas whose conjunction ``schema`` is: the root,
    its ``allOf`` branches and its ``$ref`` targets, each reduced to its flat keywords."""
    if schema is True:
        return True
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH or id(schema) in seen:
        return False  # false: every row fails, nothing to clear; a cycle: left alone
    if depth and _changes_scope(schema, validator):
        return False
    seen = seen | {id(schema)}
    applied = _applicable(schema, validator)
    flat = {}
    for keyword, value in applied.items():
        if keyword not in validator.VALIDATORS:
            continue  # annotations, $defs, unknown keywords: no verdict
        if keyword == "$ref":
            target = _lookup(validator, resolver, value)
            if target is None or not _object_branches(target[0], validator, target[1], seen, depth + 1, out):
                return False
        elif keyword == "allOf":
            if not isinstance(value, list):
                return False
            for branch in value:
                if not _object_branches(branch, validator, resolver, seen, depth + 1, out):
                    return False
        elif keyword in _FLAT_KEYWORDS:
            flat[keyword] = value
        else:
            return False
    out.append(flat)
    return True


def flat_view(schema: Mapping[str, Any], validator: Any, header: Sequence[str]) -> dict[str, Any] | None:
    """The flat schema that gives every row of ``header`` the verdict ``schema`` gives it, or None.

    ``validator`` is the original schema's (its draft decides ``$ref``'s siblings, its resolver the
    targets). The result names every column: ``{"type": "object", "properties": {column:
    subschema}, "required": [...]}``, a column's subschema ``{"allOf": [...]}`` where several
    branches constrain it, ``false`` where one forbids it.
    """
    if issubclass(draft_of(validator), Draft3Validator):
        return None  # draft 3's boolean required
    branches: list[Mapping[str, Any]] = []
    if not _object_branches(schema, validator, validator._resolver, frozenset(), 0, branches):
        return None
    required: dict[str, None] = {}
    for branch in branches:
        declared = branch.get("type", "object")
        if declared != "object" and not (isinstance(declared, list) and "object" in declared):
            return None  # every row fails: nothing to clear
        names = branch.get("required", [])
        properties = branch.get("properties", {})
        additional = branch.get("additionalProperties", True)
        if not isinstance(names, list) or not isinstance(properties, Mapping):
            return None
        if not (isinstance(additional, (bool, Mapping))):
            return None
        required.update(dict.fromkeys(names))
    properties: dict[str, Any] = {}
    if len(branches) == 1:  # the loop below, for one branch: its property, else additionalProperties
        own, additional = branches[0].get("properties", {}), branches[0].get("additionalProperties", True)
        properties = {name: own[name] if name in own else additional for name in header}
        return {"type": "object", "properties": properties, "required": list(required)}
    for name in header:
        parts = []
        for branch in branches:
            own = branch.get("properties", {})
            part = own[name] if name in own else branch.get("additionalProperties", True)
            if part is False:
                parts = [False]
                break
            if part is not True:
                parts.append(part)
        properties[name] = True if not parts else parts[0] if len(parts) == 1 else {"allOf": parts}
    return {"type": "object", "properties": properties, "required": list(required)}


def native_parts(subschema: Any, validator: Any) -> list[dict[str, Any]] | None:
    """A column's subschema as keyword sets of :data:`NATIVE_KEYWORDS` that must all hold; None when
    some keyword is beyond them. ``[]``: the subschema takes any value."""
    parts: list[dict[str, Any]] = []
    if not _native_parts(subschema, validator, validator._resolver, frozenset(), 0, parts):
        return None
    return parts


def _native_parts(schema: Any, validator: Any, resolver: Any, seen: frozenset[int], depth: int,
                  out: list[dict[str, Any]]) -> bool:
    if schema is True:
        return True
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH or id(schema) in seen:
        return False
    if depth and _changes_scope(schema, validator):
        return False
    seen = seen | {id(schema)}
    draft4 = issubclass(draft_of(validator), Draft4Validator)
    part: dict[str, Any] = {}
    for keyword, value in _applicable(schema, validator).items():
        if keyword not in validator.VALIDATORS and not (draft4 and keyword in ("exclusiveMinimum", "exclusiveMaximum")):
            continue  # annotations and unknown keywords: no verdict
        if keyword == "$ref":
            target = _lookup(validator, resolver, value)
            if target is None or not _native_parts(target[0], validator, target[1], seen, depth + 1, out):
                return False
        elif keyword == "allOf":
            if not isinstance(value, list):
                return False
            for branch in value:
                if not _native_parts(branch, validator, resolver, seen, depth + 1, out):
                    return False
        elif keyword == "format":
            checker = validator.format_checker
            if checker is not None and value in checker.checkers:
                part[keyword] = value  # a format the validator does not check is an annotation
        elif keyword in NATIVE_KEYWORDS:
            part[keyword] = value
        else:
            return False
    if draft4 and not _numeric_bounds(part):
        return False
    if part:
        out.append(part)
    return True


def _numeric_bounds(part: dict[str, Any]) -> bool:
    """Put draft-04's bounds in the later drafts' words, in place: ``maximum`` with
    ``exclusiveMaximum: true`` is ``exclusiveMaximum`` of that value; the boolean alone, or
    false, bounds nothing. False for a bound that is not draft-04's."""
    for inclusive, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = part.pop(exclusive, False)
        if not isinstance(flag, bool):
            return False  # the meta-schema refuses it: left to python-jsonschema
        if flag and inclusive in part:
            part[exclusive] = part.pop(inclusive)
    return True
