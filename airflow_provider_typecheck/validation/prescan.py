"""Clear, straight from a CSV's bytes, the rows that cannot fail; judge only the rest.

Most rows of a real file are valid, and proving a row valid needs much less
than building its text cells and running every check over them. The native
scan (``_prescan.c``) walks the bytes once, on every core, and checks each
cell in place: its kind under the typing contract, numeric bounds, string
lengths, ``email`` and ``date`` formats. Columns with other keywords (enum,
pattern, ...) that repeat their values, or of a short file, are interned
instead, and each distinct text is judged once by python-jsonschema. The rows it cannot clear,
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

from airflow_provider_typecheck.validation.cells import ABSENT_VALUE, Cell, allows, coerce_text
from airflow_provider_typecheck.validation.compiler import EXACT_FLOAT_INT
from airflow_provider_typecheck.validation.normalise import flat_view, native_parts
from airflow_provider_typecheck.validation.readers import header_record

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

_JSON_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})

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
    schema: Mapping[str, Any], validator: Any, cells: Sequence[Cell], internable: Callable[[], Collection[str]]
) -> list[ColumnRule] | None:
    """The scan's rule for each column, in header order; None when the schema is beyond the scan.

    The schema is planned from its flat form (:func:`.normalise.flat_view`).
    ``internable()`` names the columns worth interning (their values repeat, or
    the file is short); it is asked (once) only when a column has keywords the
    scan cannot check natively.
    """
    flat = flat_view(schema, validator, [cell.name for cell in cells])
    if flat is None:
        return None
    verdicts = CellVerdicts(validator)
    properties, required = flat["properties"], frozenset(flat["required"])
    names = {cell.name for cell in cells}
    if any(name not in names for name in required):
        return None  # every row misses it: nothing to clear
    rules = []
    interned = cache(lambda: frozenset(internable()))
    # Columns of one kind (subschema, typing, required) have one rule: a wide schema has few kinds.
    kinds: dict[tuple[Any, ...], ColumnRule] = {}
    for cell in cells:
        subschema = properties[cell.name]
        if subschema is False:
            return None  # a filled-in cell fails wherever it stands
        kind = (verdicts.kind(subschema), cell.allowed, cell.name in required)
        rule = kinds.get(kind)
        if rule is None:
            rule = kinds[kind] = _column_rule(subschema, cell, validator, kind[2], verdicts)
        if rule.mode == DICT and cell.name not in interned():
            return None
        rules.append(rule)
    return rules


def _column_rule(subschema: Any, cell: Cell, validator: Any, required: bool, verdicts: CellVerdicts) -> ColumnRule:
    """The rule of one column's kind; DICT when it is beyond the native checks (if it may be interned)."""
    def passes(value: Any) -> bool:
        return verdicts.accepts(subschema, cell.name, value)

    empty = coerce_text("", cell.allowed)
    empty_ok = not required if empty is ABSENT_VALUE else passes(empty)
    parts = native_parts(subschema, validator)
    if parts == []:
        return ColumnRule(ANY, empty_ok)
    native = _native_rule(parts, cell, empty_ok, passes) if parts is not None else None
    return native if native is not None else ColumnRule(DICT, empty_ok)


def _native_rule(parts: list[dict[str, Any]], cell: Cell, empty_ok: bool, passes: Any) -> ColumnRule | None:
    """One rule for keyword sets that must all hold: the types all allow, the tightest bounds."""
    allowed: set[str] | None = None
    for part in parts:
        declared = part.get("type")
        if declared is None:
            continue
        types = [declared] if isinstance(declared, str) else declared
        if not isinstance(types, list) or not set(types) <= _JSON_TYPES:
            return None
        allowed = set(types) if allowed is None else allowed & set(types)
    lower = _bound(parts, "minimum", "exclusiveMinimum", lower=True)
    upper = _bound(parts, "maximum", "exclusiveMaximum", lower=False)
    lengths = [[part[k] for part in parts if k in part] for k in ("minLength", "maxLength")]
    if lower is False or upper is False or any(type(n) is not int or n < 0 for found in lengths for n in found):
        return None
    forms = {part["format"] for part in parts if "format" in part}
    if not forms <= set(NATIVE_FORMATS) or len({NATIVE_FORMATS[form] for form in forms}) > 1:
        return None
    booleans = allows(cell.allowed, "boolean")
    return ColumnRule(
        NATIVE, empty_ok, booleans, booleans and passes(True), booleans and passes(False),
        numeric=allows(cell.allowed, "integer", "number"),
        int_ok=allowed is None or "integer" in allowed or "number" in allowed,
        # A fraction in an integer-only column may still be an integer (2.0): a suspect.
        float_ok=allowed is None or "number" in allowed,
        string_ok=allowed is None or "string" in allowed,
        minimum=lower[0] if lower else None, minimum_exclusive=bool(lower and lower[1]),
        maximum=upper[0] if upper else None, maximum_exclusive=bool(upper and upper[1]),
        min_length=max(lengths[0], default=-1), max_length=min(lengths[1], default=-1),
        format=NATIVE_FORMATS[forms.pop()] if forms else NO_FORMAT,
    )


def _bound(parts: list[dict[str, Any]], inclusive: str, exclusive: str, *, lower: bool) -> tuple[float, bool] | None | bool:
    """The tightest of the parts' inclusive and exclusive bounds as ``(float, exclusive)``;
    None when they have none, False when one cannot be compared exactly as a double."""
    found = []
    for part in parts:
        for keyword, is_exclusive in ((inclusive, False), (exclusive, True)):
            if keyword in part:
                value = part[keyword]
                if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > EXACT_FLOAT_INT:
                    return False
                found.append((float(value), is_exclusive))
    if not found:
        return None
    # Of equal values the exclusive bound is the tighter.
    if lower:
        return max(found)
    return min(found, key=lambda bound: (bound[0], not bound[1]))


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
    flat = flat_view(schema, validator, [cell.name for cell in cells])
    if flat is None:
        raise NotScannable("the schema is beyond the scan")
    judge = _Judge(flat, cells, CellVerdicts(validator))
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


class CellVerdicts:
    """python-jsonschema's verdicts on single cells, remembered across columns whose subschemas
    are equal (a wide schema has thousands of columns of a few kinds) and across segments.
    A value python-jsonschema cannot evaluate is refused."""

    def __init__(self, validator: Any) -> None:
        self.validator = validator
        self._kinds: dict[int, tuple[Any, str]] = {}  # id(subschema) -> (subschema, its repr)
        self._known: dict[tuple[Any, ...], bool] = {}

    def kind(self, subschema: Any) -> str:
        """``subschema`` as text: equal texts, equal verdicts. (``repr`` of JSON values tells
        ``1`` from ``1.0`` and ``true``, and costs a third of ``json.dumps``.)"""
        known = self._kinds.get(id(subschema))
        if known is None or known[0] is not subschema:
            known = self._kinds[id(subschema)] = (subschema, repr(subschema))
        return known[1]

    def accepts(self, subschema: Any, name: str, value: Any) -> bool:
        key = (self.kind(subschema), type(value).__name__, value)
        verdict = self._known.get(key)
        if verdict is None:
            try:
                verdict = next(iter(self.validator.descend(value, subschema, path=name)), None) is None
            except (ArithmeticError, ValueError):
                verdict = False
            if len(self._known) < DICT_LIMIT * 4:
                self._known[key] = verdict
        return verdict


class _Judge:
    """The verdicts on distinct texts of the interned columns."""

    def __init__(self, schema: Mapping[str, Any], cells: Sequence[Cell], verdicts: CellVerdicts) -> None:
        self.properties = schema.get("properties", {})
        self.cells = cells
        self.verdicts = verdicts

    def __call__(self, position: int, texts: list[str]) -> list[bool]:
        """True for each text python-jsonschema refuses in this column."""
        cell = self.cells[position]
        subschema = self.properties.get(cell.name, True)
        return [not self.verdicts.accepts(subschema, cell.name, coerce_text(text, cell.allowed)) for text in texts]
