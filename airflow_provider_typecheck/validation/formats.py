"""Vectorised ``format`` checks that give python-jsonschema's FormatChecker verdicts.

Each entry is a Polars expression over the cell text. ``exact`` entries decide
every value; the others only *accept* values they are sure of (a conservative
regular expression) and leave the rest to the real checker, which then runs
once per distinct remaining value. Either way the verdict is the checker's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_typecheck.validation.lazy_polars import polars as pl

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HEX = "[0-9a-fA-F]"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _calendar_date(text: pl.Expr) -> pl.Expr:
    # date.fromisoformat refuses year 0; chrono accepts it.
    return text.str.to_date("%Y-%m-%d", strict=False).is_not_null() & ~text.str.starts_with("0000")


def _date(text: pl.Expr) -> pl.Expr:
    return text.str.contains(_DATE_SHAPE) & _calendar_date(text)


def _date_time(text: pl.Expr) -> pl.Expr:
    return text.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _TIME + "$") & _calendar_date(text.str.slice(0, 10))


@dataclass(frozen=True)
class FormatRule:
    accepts: Callable[[pl.Expr], pl.Expr]
    exact: bool  # True: a value it does not accept is invalid, no need to ask Python


FORMAT_RULES: dict[str, FormatRule] = {
    "email": FormatRule(lambda t: t.str.contains("@", literal=True), exact=True),
    "idn-email": FormatRule(lambda t: t.str.contains("@", literal=True), exact=True),
    "ipv4": FormatRule(lambda t: t.str.contains(rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"), exact=True),
    "date": FormatRule(_date, exact=True),
    "date-time": FormatRule(_date_time, exact=False),
    "time": FormatRule(lambda t: t.str.contains(rf"^{_TIME}$"), exact=False),
    "uuid": FormatRule(
        lambda t: t.str.contains(rf"^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"), exact=False
    ),
    "ipv6": FormatRule(lambda t: t.str.contains(r"^[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){7}$"), exact=False),
    "hostname": FormatRule(
        lambda t: t.str.contains(r"^[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
        & (t.str.len_bytes() <= 253),
        exact=False,
    ),
    "uri": FormatRule(lambda t: t.str.contains(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[a-zA-Z0-9.-]+(?::[0-9]{1,5})?(?:/[a-zA-Z0-9._~/-]*)?$"), exact=False),
}
