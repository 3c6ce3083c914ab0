"""Clear, straight from a CSV's bytes, the rows that cannot fail; judge only the rest.

Most rows of a real file are valid, and proving a row valid needs much less
than building its text cells and running every check over them. The native
scan (``_prescan.c``) walks the bytes once, on every core, and checks each
cell in place: its kind under the typing contract, numeric bounds, string
lengths, ``email`` and ``date`` formats. Columns with other keywords (enum,
pattern, ...) that repeat their values are interned instead, and each
distinct text is judged once by python-jsonschema. The rows it cannot clear,
the *suspects*, are read by Polars from their own bytes and validated by the
engine as usual, so verdicts, counts and messages are the engine's.

The scan only says "valid" when it is sure; anything unusual makes a row a
suspect, a row with too few fields too (Polars pads it with nulls, as when it
reads the whole file). It declines whole files whose shape Polars might read
differently (rows too long, blank rows, stray quotes or carriage returns,
bytes that are not UTF-8) and schemas that mean more than flat ``properties``
(after :mod:`.normalise`): those take the ordinary path.
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from jsonschema import Draft3Validator, Draft4Validator

from airflow_provider_typecheck.validation.cells import ABSENT_VALUE, Cell, allows, coerce_text
from airflow_provider_typecheck.validation.compiler import EXACT_FLOAT_INT
from airflow_provider_typecheck.validation.readers import header_record
from airflow_provider_typecheck.validation.schema import draft_of

try:
    from airflow_provider_typecheck.validation import _prescan
except ImportError:  # built without a C compiler: every file takes the ordinary path
    _prescan = None

ANY, NATIVE, DICT = 0, 1, 2
NO_FORMAT, EMAIL, DATE = 0, 1, 2
NATIVE_FORMATS = {"email": EMAIL, "idn-email": EMAIL, "date": DATE}
# A column interned by the scan may hold this many distinct texts; past it the
# scan declines the file (judging each text in Python would cost more than it saves).
DICT_LIMIT = 20_000
# Bytes scanned per call: the rows found there are one batch (progress, memory).
SEGMENT_BYTES = 256 * 1024 * 1024

_ANNOTATIONS = frozenset({
    "title", "description", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly",
})
_NATIVE_KEYWORDS = frozenset({
    "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "format",
})
_JSON_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
# Root keywords under which a row's verdict is the AND of its cells' verdicts
# and of which cells are present.
_FLAT_ROOT = frozenset({
    "$schema", "$id", "$defs", "definitions", "type", "properties", "required", "additionalProperties",
    *_ANNOTATIONS,
})

NotScannable = _prescan.NotScannable if _prescan is not None else ValueError
# The mapped file shrank under the scan (another process truncated it): an OSError, never a SIGBUS.
FileChanged = _prescan.FileChanged if _prescan is not None else OSError


@dataclass(frozen=True)
class Segment:
    """What the scan found in one stretch of the file's rows."""

    first_row: int  # 0-based index of the segment's first data row
    rows: int
    suspects: list[int]  # 0-based indexes (in the file) of the rows the scan could not clear
    flagged: list[tuple[int, ...]]  # per suspect, the positions of the cells that made it one
    records: bytes  # the header record, then each suspect's record: CSV Polars reads as the file
    last: bool  # the file ends with this segment
    short: dict[int, int]  # the suspects with fewer fields than the header's (0-based index: field count)


class ColumnRule(NamedTuple):
    """How the scan checks one column (a tuple, as the C code parses it)."""

    mode: int  # ANY, NATIVE or DICT
    empty_ok: bool  # an empty cell passes (a null the subschema takes, or an absent optional property)
    booleans: bool = False  # true/false spellings are booleans here ...
    true_ok: bool = False  # ... and pass, or not
    false_ok: bool = False
    numeric: bool = False  # numerals are numbers here ...
    int_ok: bool = False  # ... an integer's type passes
    float_ok: bool = False  # ... a fraction's type passes
    string_ok: bool = False  # any other text's type passes
    minimum: float | None = None
    minimum_exclusive: bool = False
    maximum: float | None = None
    maximum_exclusive: bool = False
    min_length: int = -1  # -1: none
    max_length: int = -1
    format: int = NO_FORMAT


def available() -> bool:
    return _prescan is not None


def column_rules(
    schema: Mapping[str, Any], validator: Any, cells: Sequence[Cell], repetitive: Callable[[], Collection[str]]
) -> list[ColumnRule] | None:
    """The scan's rule for each column, in header order; None when the schema is beyond the scan.

    ``repetitive()`` names the columns whose values repeat; it is asked (once)
    only when a column has keywords the scan cannot check natively.
    """
    if issubclass(draft_of(validator), (Draft3Validator, Draft4Validator)):
        return None  # draft 4's boolean exclusive bounds, draft 3's boolean required
    if not set(schema) <= _FLAT_ROOT or schema.get("additionalProperties", True) not in (True, False):
        return None
    declared = schema.get("type", "object")
    if declared != "object" and not (isinstance(declared, list) and "object" in declared):
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    names = {cell.name for cell in cells}
    if any(name not in names for name in required):
        return None  # every row misses it: nothing to clear
    rules = []
    interned = cache(lambda: frozenset(repetitive()))
    for cell in cells:
        subschema = properties.get(cell.name, True if schema.get("additionalProperties", True) else None)
        if subschema is None or subschema is False:
            return None  # a filled-in cell fails wherever it stands
        rule = _column_rule(subschema, cell, validator, cell.name in required, interned)
        if rule is None:
            return None
        rules.append(rule)
    return rules


def _column_rule(
    subschema: Any, cell: Cell, validator: Any, required: bool, repetitive: Callable[[], frozenset[str]]
) -> ColumnRule | None:
    def passes(value: Any) -> bool:
        return _accepts(validator, subschema, cell.name, value)

    empty = coerce_text("", cell.allowed)
    empty_ok = not required if empty is ABSENT_VALUE else passes(empty)
    if subschema is True or (isinstance(subschema, dict) and set(subschema) <= _ANNOTATIONS):
        return ColumnRule(ANY, empty_ok)
    if not isinstance(subschema, dict):
        return None
    native = _native_rule(subschema, cell, empty_ok, passes)
    if native is not None:
        return native
    return ColumnRule(DICT, empty_ok) if cell.name in repetitive() else None


def _native_rule(subschema: dict[str, Any], cell: Cell, empty_ok: bool, passes: Any) -> ColumnRule | None:
    if not set(subschema) <= _NATIVE_KEYWORDS | _ANNOTATIONS:
        return None
    declared = subschema.get("type")
    types = [declared] if isinstance(declared, str) else declared
    if types is not None and (not isinstance(types, list) or not set(types) <= _JSON_TYPES):
        return None
    lower = _bound(subschema, "minimum", "exclusiveMinimum", max)
    upper = _bound(subschema, "maximum", "exclusiveMaximum", min)
    lengths = [subschema.get(k, -1) for k in ("minLength", "maxLength")]
    if lower is False or upper is False or any(type(n) is not int or n < -1 for n in lengths):
        return None
    form = subschema.get("format")
    if form is not None and form not in NATIVE_FORMATS:
        return None
    booleans = allows(cell.allowed, "boolean")
    return ColumnRule(
        NATIVE, empty_ok, booleans, booleans and passes(True), booleans and passes(False),
        numeric=allows(cell.allowed, "integer", "number"),
        int_ok=types is None or "integer" in types or "number" in types,
        # A fraction in an integer-only column may still be an integer (2.0): a suspect.
        float_ok=types is None or "number" in types,
        string_ok=types is None or "string" in types,
        minimum=lower[0] if lower else None, minimum_exclusive=bool(lower and lower[1]),
        maximum=upper[0] if upper else None, maximum_exclusive=bool(upper and upper[1]),
        min_length=lengths[0], max_length=lengths[1],
        format=NATIVE_FORMATS.get(form, NO_FORMAT),
    )


def _bound(subschema: dict[str, Any], inclusive: str, exclusive: str, tighter: Any) -> tuple[float, bool] | None | bool:
    """The tighter of a column's inclusive and exclusive bounds as ``(float, exclusive)``;
    None when it has none, False when one cannot be compared exactly as a double."""
    found = []
    for keyword, is_exclusive in ((inclusive, False), (exclusive, True)):
        if keyword in subschema:
            value = subschema[keyword]
            if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > EXACT_FLOAT_INT:
                return False
            found.append((float(value), is_exclusive))
    if len(found) == 2 and found[0][0] == found[1][0]:
        return found[1]  # equal values: the exclusive one is the tighter
    return tighter(found, key=lambda bound: bound[0]) if found else None


def scan(
    data: bytes | mmap.mmap, delimiter: str, rules: list[ColumnRule], schema: Mapping[str, Any],
    validator: Any, cells: Sequence[Cell], *, batch_rows: int | None = None, threads: int | None = None,
) -> Iterator[Segment]:
    """Scan a whole CSV (header first) held in ``data``, a stretch of ``SEGMENT_BYTES`` at a time,
    or of about ``batch_rows`` rows (as long as the first lines are).

    Raises :class:`NotScannable`, before the first segment or at any later
    one, when the file's shape is beyond the scan, and :class:`FileChanged` when
    a mapped file loses pages under it (truncated by another process).
    """
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        raise NotScannable(f"the scan splits fields on one ASCII byte, not {delimiter!r}")
    # Python reads a mapped file's pages through the native code too, which survives their loss.
    readable = _Copied(data) if isinstance(data, mmap.mmap) else data
    header = header_record(readable, delimiter)
    if not header.endswith(b"\n"):
        raise NotScannable("the header row does not end in a newline")
    header_end = len(header)
    segment_bytes = SEGMENT_BYTES
    if batch_rows is not None:
        head = readable[header_end:header_end + 1024 * 1024]
        segment_bytes = max(batch_rows * len(head) // max(head.count(b"\n"), 1), 1)
    crlf = header.endswith(b"\r\n")
    judge = _Judge(schema, validator, cells)
    threads = threads or _usable_cores()
    big = isinstance(data, mmap.mmap) and len(data) > segment_bytes
    position, row = header_end, 0
    with memoryview(data) as whole:
        while position < len(data) or row == 0:
            length = segment_bytes
            while True:
                final = position + length >= len(data)
                with whole[position:position + length] as stretch:
                    rows, suspects, flagged, records, end = _prescan.scan(
                        stretch, ord(delimiter), rules, judge, threads=threads, final=final, crlf=crlf,
                        dict_limit=DICT_LIMIT,
                    )
                if final or rows:
                    break
                length *= 2  # one record longer than the stretch
            # The native code flags a short row with RAGGED_MARK(fields): -1 - its field count.
            short = {row + index: -1 - min(marks) for index, marks in zip(suspects, flagged, strict=True)
                     if marks and min(marks) < 0}
            if short:
                flagged = [tuple(mark for mark in marks if mark >= 0) for marks in flagged]
            yield Segment(row, rows, [row + index for index in suspects], flagged, header + records, final, short)
            if big:  # hand the pages back: a file bigger than memory must not stay resident
                start = position - position % mmap.PAGESIZE
                data.madvise(mmap.MADV_DONTNEED, start, position + end - start)
            position += end
            row += rows
            if final:
                break


class _Copied:
    """Slices of a mapped file, copied by the native code: FileChanged where a page is gone."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self.data))
        return _prescan.copy(self.data, start, stop)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (Linux)
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _accepts(validator: Any, subschema: Any, name: str, value: Any) -> bool:
    """python-jsonschema's verdict on one cell's value (a value it cannot evaluate is refused)."""
    try:
        return next(iter(validator.descend(value, subschema, path=name)), None) is None
    except (ArithmeticError, ValueError):
        return False


class _Judge:
    """The verdicts on distinct texts of the interned columns, remembered across segments."""

    def __init__(self, schema: Mapping[str, Any], validator: Any, cells: Sequence[Cell]) -> None:
        self.properties = schema.get("properties", {})
        self.validator = validator
        self.cells = cells
        self.refused: dict[int, dict[str, bool]] = {}

    def __call__(self, position: int, texts: list[str]) -> list[bool]:
        """True for each text python-jsonschema refuses in this column."""
        known = self.refused.setdefault(position, {})
        cell = self.cells[position]
        subschema = self.properties.get(cell.name, True)
        verdicts = []
        for text in texts:
            refused = known.get(text)
            if refused is None:
                refused = not _accepts(self.validator, subschema, cell.name, coerce_text(text, cell.allowed))
                if len(known) < DICT_LIMIT * 4:
                    known[text] = refused
            verdicts.append(refused)
        return verdicts
