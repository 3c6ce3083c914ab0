"""The typing contract: how a cell's text becomes a JSON value.

Every cell is text. Which JSON value it stands for depends on the types the
column's schema allows (see :func:`schema.allowed_types`):

* empty -> ``null`` where null is allowed, otherwise the property is absent;
* ``true``/``false`` in any case -> a boolean where boolean is allowed;
* a plain decimal numeral -> a number where integer or number is allowed
  (an ``int`` when it is only sign and digits, else a ``float``);
* anything else stays a string.

This module holds both faces of the contract: the vectorised one (a kind code
per cell, computed by Polars) and the per-value one used by fallbacks and for
building the rows handed to python-jsonschema when writing error messages.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from typing import Any

from airflow_provider_typecheck.validation.lazy_polars import polars as pl

NUMERAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
INTEGER = re.compile(r"[+-]?[0-9]+")

# Kind codes of a cell's JSON value. PYTHON marks numerals Polars cannot hold
# exactly (integers beyond 64 bits, floats that overflow) and the words
# Polars parses as numbers but the contract does not (inf, nan): rows holding
# one are validated by python-jsonschema directly.
ABSENT, NULL, BOOLEAN, INT, FLOAT, STRING, PYTHON = range(7)
NUMBER_KINDS = (INT, FLOAT)
TWO_TO_63 = 2.0**63

TRUE_SPELLINGS = ["".join(chars) for chars in product(*({c, c.upper()} for c in "true"))]
FALSE_SPELLINGS = ["".join(chars) for chars in product(*({c, c.upper()} for c in "false"))]

_TRUE_SET = frozenset(TRUE_SPELLINGS)
_FALSE_SET = frozenset(FALSE_SPELLINGS)
_ABSENT = object()
# Digits-only texts up to this length convert with int() under any int_max_str_digits (640 at least).
_INT_DIGITS_SAFE = 640


def allows(allowed: frozenset[str] | None, *types: str) -> bool:
    return allowed is None or any(t in allowed for t in types)


def coerce_text(text: str | None, allowed: frozenset[str] | None) -> Any:
    """The JSON value a cell's text stands for, or ``ABSENT_VALUE`` for an absent property."""
    if text is None or text == "":
        return None if allows(allowed, "null") else ABSENT_VALUE
    if allows(allowed, "boolean"):
        if text in _TRUE_SET:
            return True
        if text in _FALSE_SET:
            return False
    if allows(allowed, "integer", "number") and NUMERAL.fullmatch(text):
        if not INTEGER.fullmatch(text):
            return float(text)
        # int() refuses more than 4,300 digits (sys.get_int_max_str_digits); Decimal does not.
        return int(text) if len(text) <= _INT_DIGITS_SAFE else int(Decimal(text))
    return text


@contextmanager
def integers_of_any_size() -> Iterator[None]:
    """Let python-jsonschema write integers of more than 4,300 digits in its messages.

    Python refuses to turn such an int into text unless told otherwise
    (``sys.set_int_max_str_digits``), and python-jsonschema formats the
    instance into every error it builds, even inside an ``anyOf`` branch that
    another branch makes good: without this, a verdict on a 5,000-digit cell
    would be a ``ValueError``. The limit is process-wide; it is put back on
    leaving, and lifting it for a while only removes a guard.
    """
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        yield
        return
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


ABSENT_VALUE = _ABSENT


@dataclass(frozen=True)
class Cell:
    """One column of the spreadsheet as the compiler sees it.

    Expressions are built against helper columns that :meth:`prelude`
    computes once per batch, so the many checks on a column share one parse.
    """

    name: str
    index: int
    allowed: frozenset[str] | None
    # Few distinct values (dates, codes, plans): costly string checks then run
    # on the distinct values only and are looked up for every row.
    repetitive: bool = False

    @property
    def raw(self) -> pl.Expr:
        return pl.col(self.name)

    @property
    def kind(self) -> pl.Expr:
        return pl.col(f"__kind{self.index}")

    @property
    def int64(self) -> pl.Expr:
        return pl.col(f"__int{self.index}")

    @property
    def float64(self) -> pl.Expr:
        return pl.col(f"__float{self.index}")

    @cached_property
    def numeric(self) -> bool:
        return allows(self.allowed, "integer", "number")

    @cached_property
    def nullable(self) -> bool:
        """An empty cell is ``null`` (present), not an absent property."""
        return allows(self.allowed, "null")

    @cached_property
    def possible_kinds(self) -> frozenset[int]:
        """The kind codes :meth:`prelude` can give this column's cells."""
        kinds = {NULL if self.nullable else ABSENT, STRING}
        if allows(self.allowed, "boolean"):
            kinds.add(BOOLEAN)
        if self.numeric:
            kinds |= {INT, FLOAT, PYTHON}
        return frozenset(kinds)

    @property
    def present(self) -> pl.Expr:
        return self.kind != ABSENT

    def is_kind(self, *kinds: int) -> pl.Expr:
        if len(kinds) == 1:
            return self.kind == kinds[0]
        return self.kind.is_in(list(kinds))

    def prelude(self) -> list[pl.Expr]:
        """Helper columns: the kind code, and the parsed numbers where numbers are allowed."""
        raw = self.raw
        empty = raw.is_null() | (raw.str.len_bytes() == 0)
        kind = pl.when(empty).then(pl.lit(NULL if self.nullable else ABSENT, pl.UInt8))
        if allows(self.allowed, "boolean"):
            kind = kind.when(raw.is_in(TRUE_SPELLINGS + FALSE_SPELLINGS)).then(pl.lit(BOOLEAN, pl.UInt8))
        exprs: list[pl.Expr] = []
        if self.numeric:
            as_int = raw.cast(pl.Int64, strict=False)
            # Every row is parsed both ways: nulling out the integers first to spare
            # their float parse costs more (a copy of the text column) than the parse.
            as_float = raw.cast(pl.Float64, strict=False)
            # Below 2**63 a digits-only text always fits Int64, so a float there
            # came from a fraction or an exponent: a Python float. (One comparison
            # also sends inf and nan, which compare false, to Python; so are the
            # rare floats beyond 2**63, which might be digits-only big integers.)
            exact_float = as_float.abs() < TWO_TO_63
            kind = (
                kind.when(as_int.is_not_null()).then(pl.lit(INT, pl.UInt8))
                .when(exact_float).then(pl.lit(FLOAT, pl.UInt8))
                .when(as_float.is_not_null()).then(pl.lit(PYTHON, pl.UInt8))
            )
            exprs += [as_int.alias(f"__int{self.index}"), as_float.alias(f"__float{self.index}")]
        kind = kind.otherwise(pl.lit(STRING, pl.UInt8))
        return [kind.alias(f"__kind{self.index}"), *exprs]

    def text_check(
        self, predicate: Callable[[pl.Expr], pl.Expr], *, multiline: Callable[[str], bool] | None = None
    ) -> pl.Expr:
        """``predicate(text)`` for every row, computed once per distinct text when values repeat.

        ``multiline(text)``, when given, decides instead for distinct texts that
        hold a newline (there Rust's regex and Python's ``re`` can disagree).
        """
        if not self.repetitive:
            return predicate(self.raw)

        def refused(distinct: pl.Series) -> pl.Series:
            accepted = distinct.to_frame().select(predicate(pl.col(distinct.name))).to_series()
            if multiline is not None:
                newline = distinct.str.contains("\n", literal=True).fill_null(False)
                if newline.any():
                    decided = [multiline(text) for text in distinct.filter(newline)]
                    accepted = accepted.scatter(newline.arg_true(), decided)
            return distinct.filter(~accepted.fill_null(False))

        # One hashing pass finds the distinct values; the predicate runs on those
        # alone (in one piece, so values and verdicts line up), and the rows are
        # looked up in the few refused values, not the many accepted ones.
        return ~self.raw.is_in(self.raw.unique().map_batches(refused, return_dtype=pl.String).implode())

    def coerce(self, text: str | None) -> Any:
        return coerce_text(text, self.allowed)

    def where_python(self, where: pl.Expr, fails: Any) -> pl.Expr:
        """True where ``where`` holds and ``fails(value)`` says the cell's value fails.

        Runs Python once per distinct text, not once per row: the escape hatch
        for checks Polars cannot do exactly (big integers, ECMA-only regex
        features, format checkers without a vectorised form).
        """
        allowed = self.allowed

        def evaluate(batch: pl.Series) -> pl.Series:
            texts = batch.struct.field("text")
            needed = batch.struct.field("needed").fill_null(False)
            failing = []
            with integers_of_any_size():
                for text in texts.filter(needed).unique().to_list():
                    try:
                        failed = bool(fails(coerce_text(text, allowed)))
                    except Exception:  # noqa: BLE001 - a checker crashing on a value is a failed value
                        failed = True
                    if failed:
                        failing.append(text)
            if not failing:
                return pl.repeat(False, len(batch), dtype=pl.Boolean, eager=True).alias(batch.name)
            return needed & texts.is_in(failing).fill_null(False)

        return pl.struct(text=self.raw, needed=where).map_batches(evaluate, return_dtype=pl.Boolean)
