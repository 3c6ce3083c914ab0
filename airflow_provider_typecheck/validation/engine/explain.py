"""Explain invalid rows: python-jsonschema's own errors, run on as little of each row as gives them exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import referencing.exceptions
from jsonschema.exceptions import ValidationError

from airflow_provider_typecheck.validation.cells import ABSENT_VALUE, Cell, integers_of_any_size
from airflow_provider_typecheck.validation.engine.planning import CompiledSchema
from airflow_provider_typecheck.validation.errors import SchemaError

UNEVALUABLE = "unevaluable"

# Root keywords that can yield errors on a property other than through ``properties``.
_PROPERTY_APPLICATORS = frozenset({
    "allOf", "anyOf", "oneOf", "not", "if", "$ref", "$dynamicRef", "$recursiveRef", "dependentSchemas",
    "dependencies", "patternProperties", "additionalProperties", "unevaluatedProperties", "propertyNames",
})
# Root keywords whose errors on a row (verdict and message) depend only on which
# properties it holds. (minProperties is not one: its message shows the row.)
_KEY_ONLY_KEYWORDS = frozenset({
    "type", "properties", "additionalProperties", "required", "dependentRequired",
    "$schema", "$id", "$comment", "$defs", "definitions", "$anchor", "$vocabulary",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
})
# Root keywords that neither validate nor move the base URI: beside a root ``allOf`` alone,
# its branches' errors are the root's (see _all_of_branches).
_INERT_KEYWORDS = frozenset({
    "$schema", "$comment", "$defs", "definitions", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly",
})
# Branch keywords that move the base URI or the dynamic scope: python-jsonschema's descent
# into such a branch differs from validating it alone.
_SCOPE_KEYWORDS = frozenset({"$id", "id", "$schema", "$anchor", "$dynamicAnchor", "$recursiveAnchor"})
# Distinct (column, text) pairs whose errors are remembered.
_CELL_ERRORS_KEPT = 100_000


def python_errors(validator: Any, row: Any) -> list[Any]:
    """python-jsonschema's errors; a value it cannot evaluate (``1e400`` against a
    fractional ``multipleOf`` overflows in python-jsonschema itself) is an error too."""
    try:
        with integers_of_any_size():
            return list(validator.iter_errors(row))
    except referencing.exceptions.Unresolvable as err:
        # check_schema resolves every reference first; this is the registry's last word.
        raise SchemaError(f"$ref cannot be resolved within this schema: {err}") from None
    except (ArithmeticError, ValueError) as err:
        return [ValidationError(f"python-jsonschema cannot evaluate this row: {err}", validator=UNEVALUABLE)]


def _flat_properties(schema: Mapping[str, Any], cells: Mapping[str, Any]) -> dict[str, Any] | None:
    """The root's ``properties`` when only they can yield errors on a single property.

    ``additionalProperties: false`` is fine: its error is about the row.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    applicators = _PROPERTY_APPLICATORS & set(schema)
    if applicators - {"additionalProperties"} or schema.get("additionalProperties", False) not in (False, True):
        return None
    return {name: sub for name, sub in properties.items() if name in cells}


def _key_only_validator(validator: Any, schema: Mapping[str, Any], flat: Mapping[str, Any] | None) -> Any:
    """The root with every property subschema ``true``, when the rest only looks at which keys a
    row holds: its errors for a row are then those of any row with the same keys."""
    if flat is None or not set(schema) <= _KEY_ONLY_KEYWORDS or schema.get("type", "object") != "object":
        return None
    if any(sub is False for sub in schema["properties"].values()):
        return None  # a false subschema's error comes from within ``properties``, between cell errors
    return validator.evolve(schema={**schema, "properties": dict.fromkeys(schema["properties"], True)})


class _Branch(NamedTuple):
    """One ``allOf`` branch, explained as a root of its own (what an :class:`Explainer` reads of a schema)."""

    schema: Mapping[str, Any]
    validator: Any


def _all_of_branches(compiled: Any) -> list[_Branch] | None:
    """The branches of a root that says nothing but ``allOf`` (annotations aside), as schema generators
    write them: python-jsonschema's errors for such a root are each branch's errors, branch after branch,
    with the same instance paths, keywords and messages. None for any other root."""
    schema = compiled.schema
    branches = schema.get("allOf") if isinstance(schema, Mapping) else None
    if not isinstance(branches, list) or not branches or set(schema) - _INERT_KEYWORDS - {"allOf"}:
        return None
    if not all(isinstance(branch, Mapping) and not _SCOPE_KEYWORDS & set(branch) for branch in branches):
        return None
    return [_Branch(branch, compiled.validator.evolve(schema=branch)) for branch in branches]


class Explainer:
    """python-jsonschema's errors for one header's rows, from the original schema."""

    def __init__(self, compiled: CompiledSchema, cells: Sequence[Cell]) -> None:
        self.compiled = compiled
        self.cells = cells
        self._cells = {cell.name: cell for cell in cells}
        self._flat_properties = _flat_properties(compiled.schema, self._cells)
        self._key_validator = _key_only_validator(compiled.validator, compiled.schema, self._flat_properties)
        self._validators: dict[frozenset[str | None], Any] = {}
        self._cell_errors: dict[tuple[str, str | None], list[Any]] = {}
        self._key_errors: dict[tuple[str, ...], tuple[list[Any], list[Any]]] = {}
        branches = _all_of_branches(compiled)
        self._branches = None if branches is None else [Explainer(branch, cells) for branch in branches]

    def row(self, texts: Sequence[str | None]) -> dict[str, Any]:
        """The row as python-jsonschema sees it: an object of the cells' values, absent cells left out."""
        row = {}
        for cell, text in zip(self.cells, texts, strict=True):
            value = cell.coerce(text)
            if value is not ABSENT_VALUE:
                row[cell.name] = value
        return row

    def row_errors(self, texts: Sequence[str | None]) -> list[Any]:
        """All of a row's errors, python-jsonschema run on the whole row."""
        return python_errors(self.compiled.validator, self.row(texts))

    def errors_for(self, texts: Sequence[str | None], columns: set[str | None]) -> list[Any]:
        """python-jsonschema's errors for a row the checks found invalid in ``columns``.

        The checks already say which properties fail, so only those are run.
        When the root names its properties with no applicator around them and
        only properties fail, each failing cell is descended into exactly as
        python-jsonschema's ``properties`` keyword does. Otherwise the root
        runs with the passing properties' subschemas replaced by ``true``
        (a ``false`` property subschema reports on the row: those stay).
        """
        if self._branches is not None:
            # A root allOf (a generator's wrapping): each branch explained as a root, in order.
            return [error for branch in self._branches for error in branch.errors_for(texts, columns)]
        validator = self.compiled.validator
        properties = self.compiled.schema.get("properties")
        if not isinstance(properties, Mapping):
            return self.row_errors(texts)
        if self._flat_properties is not None and (None not in columns or self._key_validator is not None):
            errors = self._property_errors(texts, columns)
            if errors is None:
                return self.row_errors(texts)
            if None not in columns:
                return errors
            # Errors on the row (required, additionalProperties...) depend only on which cells
            # are filled in; python-jsonschema yields them in the root's keyword order, the
            # properties' errors where ``properties`` stands.
            present = tuple(cell.name for cell, text in zip(self.cells, texts, strict=True)
                            if text or cell.nullable)
            if present not in self._key_errors:
                order = list(self.compiled.schema)
                before, after = [], []
                for error in python_errors(self._key_validator, dict.fromkeys(present)):
                    (before if order.index(error.validator) < order.index("properties") else after).append(error)
                self._key_errors[present] = (before, after)
            before, after = self._key_errors[present]
            return [*before, *errors, *after]
        key = frozenset(columns)
        if key not in self._validators:
            kept = {name for name, sub in properties.items() if name in key or sub is False}
            reduced = dict(self.compiled.schema)
            reduced["properties"] = {name: sub if name in kept else True for name, sub in properties.items()}
            self._validators[key] = validator.evolve(schema=reduced)
        return python_errors(self._validators[key], self.row(texts))

    def _property_errors(self, texts: Sequence[str | None], columns: set[str | None]) -> list[Any] | None:
        """The failing cells' errors, each descended into as python-jsonschema's ``properties``
        does; None when python-jsonschema itself cannot evaluate a value."""
        errors = []
        for name, subschema in self._flat_properties.items():
            if name in columns:
                cell = self._cells[name]
                text = texts[cell.index]
                # A cell's errors depend on its text alone: bad values repeat, so remember them.
                cached = self._cell_errors.get((name, text))
                if cached is None:
                    try:
                        with integers_of_any_size():
                            cached = list(self.compiled.validator.descend(cell.coerce(text), subschema, path=name,
                                                                          schema_path=name))
                    except (ArithmeticError, ValueError):
                        return None
                    if len(self._cell_errors) < _CELL_ERRORS_KEPT:
                        self._cell_errors[(name, text)] = cached
                errors += cached
        return errors
