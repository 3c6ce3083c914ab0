"""References and in-place keywords of a schema: where each ``$ref`` leads, and the chains
that would make python-jsonschema recurse without end.

Part of the schema check (:func:`.schema.check_schema`): a reference that leaves the
schema or resolves nowhere is refused, and so is a chain of references and in-place
keywords (``allOf``, ``not``, ...) that loops or runs deeper than the depth limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property, lru_cache
from typing import Any

import jsonschema.validators
import referencing
import referencing.exceptions
import referencing.jsonschema

from airflow_provider_typecheck.validation.errors import SchemaError
from airflow_provider_typecheck.validation.references import new_validator, refused_uri

# Keywords whose values are data, not subschemas: never walk into them.
DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose value maps arbitrary names to subschemas.
NAMED_SUBSCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)


def json_pointer(parts: Iterator[Any] | list[Any]) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


# Keywords that apply their subschemas to the very value being checked: a chain of
# them does not get shorter as the value gets smaller, so a loop never ends.
_IN_PLACE_SCHEMAS = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAPS = ("dependentSchemas", "dependencies")
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")


@lru_cache(maxsize=16)
def _specification(cls: type) -> Any:
    """The ``referencing`` specification by which ``cls`` reads ``$id`` and finds subresources."""
    return referencing.jsonschema.specification_with(
        cls.META_SCHEMA.get("$schema", ""), default=referencing.Specification.OPAQUE
    )


class _SchemaGraph:
    """Every subschema with the resolver python-jsonschema would hold there, and where
    each reference leads.

    It follows python-jsonschema's ``descend``: a subschema's ``$id`` moves the
    base URI as its parent's draft reads it, and its own ``$schema`` picks the
    draft of its keywords and of its children's ``$id``. Each reference is
    resolved by the same registry the validators use (see
    :mod:`~airflow_provider_typecheck.validation.references`): one that names a
    document the schema does not hold, or resolves outside the schema (a
    meta-schema), is refused, so nothing downstream ever needs a fetch.
    """

    def __init__(self, schema: dict[str, Any], cls: type) -> None:
        self.schema = schema
        self.nodes: dict[int, tuple[Any, Any, type, tuple[Any, ...]]] = {}  # id -> (subschema, resolver, draft, path)
        self.targets: dict[int, list[Any]] = {}  # id -> what its references resolve to
        # (subschema, its parent's draft, resolver, path, whether the resolver already stands in it)
        pending: list[tuple[Any, type, Any, tuple[Any, ...], bool]] = [
            (schema, cls, new_validator(cls, schema)._resolver, (), True)
        ]
        with_references: list[int] = []
        while pending or with_references:
            if pending:
                with_references.extend(self._collect(pending))
            else:
                node_id = with_references.pop()
                self.targets[node_id] = self._resolve(node_id, pending)

    def where(self, node_id: int) -> str:
        """Where a subschema is, as a JSON pointer (through the reference that led to it, if any)."""
        return _where(self.nodes[node_id][3])

    def _collect(self, pending: list[tuple[Any, type, Any, tuple[Any, ...], bool]]) -> Iterator[int]:
        """Walk the pending subtrees; yield the subschemas that hold references."""
        while pending:
            sub, parent_cls, resolver, path, entered = pending.pop()
            if not isinstance(sub, dict) or id(sub) in self.nodes:
                continue
            # The root and a reference's target come with a resolver standing in them already.
            if not entered and ("$id" in sub or "id" in sub):
                resolver = resolver.in_subresource(_specification(parent_cls).create_resource(sub))
            cls = jsonschema.validators.validator_for(sub, default=parent_cls) if "$schema" in sub else parent_cls
            self.nodes[id(sub)] = (sub, resolver, cls, path)
            if any(isinstance(sub.get(key), str) for key in REFERENCES):
                yield id(sub)
            for key, value in sub.items():
                if key in DATA_KEYWORDS:
                    continue
                if key in NAMED_SUBSCHEMAS and isinstance(value, dict):
                    pending.extend((child, cls, resolver, (*path, key, name), False) for name, child in value.items())
                elif isinstance(value, dict):
                    pending.append((value, cls, resolver, (*path, key), False))
                elif isinstance(value, list):
                    pending.extend((child, cls, resolver, (*path, key, index), False)
                                   for index, child in enumerate(value))

    def _resolve(self, node_id: int, pending: list[tuple[Any, type, Any, tuple[Any, ...], bool]]) -> list[Any]:
        sub, resolver, cls, path = self.nodes[node_id]
        targets = []
        for key in REFERENCES:
            if not isinstance(sub.get(key), str):
                continue
            try:
                resolved = resolver.lookup(sub[key])
            except referencing.exceptions.Unresolvable as err:
                if (uri := refused_uri(err)) is not None:
                    raise SchemaError(_outside_message(key, sub[key], uri), _where((*path, key))) from None
                raise SchemaError(f"{key} {sub[key]!r} cannot be resolved within this schema", _where(path)) from None
            contents = resolved.contents
            if isinstance(contents, (dict, list)) and id(contents) not in self.nodes:
                if id(contents) not in self._inside:
                    raise SchemaError(_outside_message(key, sub[key], "a meta-schema"), _where((*path, key)))
                # A value under enum, const, ... that a reference makes a subschema.
                pending.append((contents, cls, resolved.resolver, (_Via(f"{_where(path)} -> {sub[key]}"),), True))
            targets.append(contents)
        return targets

    @cached_property
    def _inside(self) -> set[int]:
        """The identity of every object and array of the schema (data included)."""
        found: set[int] = set()
        stack = [self.schema]
        while stack:
            item = stack.pop()
            if isinstance(item, (dict, list)) and id(item) not in found:
                found.add(id(item))
                stack.extend(item.values() if isinstance(item, dict) else item)
        return found


class _Via(str):
    """A path's start that is the reference which led there, not a key."""


def _where(path: tuple[Any, ...]) -> str:
    if path and isinstance(path[0], _Via):
        return path[0] + json_pointer(list(path[1:]))
    return json_pointer(list(path))


def _outside_message(keyword: str, ref: str, target: str) -> str:
    where = target if target == "a meta-schema" else repr(target)
    return (f"{keyword} {ref!r} points outside this schema (to {where}); references are never fetched: "
            "inline the referenced schema under $defs instead")


def check_in_place_chains(schema: dict[str, Any], cls: type, max_depth: int) -> None:
    """Refuse references that leave the schema or resolve nowhere, references that loop
    back without descending into a value, and chains of references and in-place
    keywords longer than ``max_depth``.

    A tree (``"items": {"$ref": "#"}``) descends into a smaller value at each
    turn and ends; ``{"$ref": "#"}`` or ``a -> allOf -> b -> a`` never does, and
    python-jsonschema would recurse until Python's stack runs out.
    """
    graph = _SchemaGraph(schema, cls)
    nodes = graph.nodes

    edges: dict[int, list[int]] = {}

    def in_place(node_id: int) -> list[int]:
        if node_id not in edges:
            edges[node_id] = _in_place_children(node_id)
        return edges[node_id]

    def _in_place_children(node_id: int) -> list[int]:
        sub = nodes[node_id][0]
        children = [sub[key] for key in _IN_PLACE_SCHEMAS if key in sub]
        children += [child for key in _IN_PLACE_LISTS if isinstance(sub.get(key), list) for child in sub[key]]
        children += [child for key in _IN_PLACE_MAPS if isinstance(sub.get(key), dict)
                     for child in sub[key].values() if isinstance(child, dict)]
        children += graph.targets.get(node_id, [])
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
                        graph.where(start),
                    )
            elif child in on_path:
                raise SchemaError(
                    "this subschema leads back to itself through references and in-place keywords "
                    "(allOf, anyOf, not, $ref, ...) without descending into a property or an item: "
                    "validating would never end",
                    graph.where(child),
                )
            elif child not in longest:
                on_path.add(child)
                stack.append((child, iter(in_place(child))))
