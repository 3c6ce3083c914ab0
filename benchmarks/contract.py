"""The typing contract as a row-to-dict converter for the row-by-row baselines.

Every cell is text.  An empty cell (null or "") becomes JSON ``null`` where the
column's ``type`` allows null, otherwise the property is left out.  Non-empty
text becomes a boolean (``true``/``false`` in any case) where the column allows
boolean, a JSON number where it allows integer or number and the text matches
``NUMBER`` (an int when it is only sign and digits, else a float), and stays a
string otherwise.  A column's allowed types come from ``type`` in
``properties``; a column with no ``type`` (or absent from ``properties``)
allows every type.

python-jsonschema, jsonschema-rs, fastjsonschema and the seed's approach all
get their dicts from here, so their verdicts are comparable with ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
INTEGER = re.compile(r"[+-]?[0-9]+\Z")
ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def allowed_types(schema: dict, column: str) -> frozenset[str]:
    sub = schema.get("properties", {}).get(column)
    if not isinstance(sub, dict) or "type" not in sub:
        return ALL_TYPES
    t = sub["type"]
    return frozenset([t] if isinstance(t, str) else t)


def cell_converter(types: frozenset[str]) -> Callable[[str], Any]:
    """Converter for one non-empty cell of a column allowing ``types``."""
    wants_bool = "boolean" in types
    wants_number = "integer" in types or "number" in types
    number_match = NUMBER.match
    integer_match = INTEGER.match

    if not wants_bool and not wants_number:
        return lambda text: text

    def convert(text: str) -> Any:
        if wants_bool:
            low = text.lower()
            if low == "true":
                return True
            if low == "false":
                return False
        if wants_number and number_match(text):
            return int(text) if integer_match(text) else float(text)
        return text

    return convert


def row_converter(schema: dict, columns: Sequence[str]) -> Callable[[Iterable[str | None]], dict]:
    """A function turning one row (cells in ``columns`` order) into its JSON object."""
    specs = []
    for name in columns:
        types = allowed_types(schema, name)
        specs.append((name, cell_converter(types), "null" in types))

    def to_dict(row: Iterable[str | None]) -> dict:
        out = {}
        for (name, convert, nullable), text in zip(specs, row):
            if text is None or text == "":
                if nullable:
                    out[name] = None
            else:
                out[name] = convert(text)
        return out

    return to_dict
