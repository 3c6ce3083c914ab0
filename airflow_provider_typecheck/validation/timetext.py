"""The one rule writing date-times, times of day and durations as text, whatever the workbook's format.

* A date-time is ``YYYY-MM-DDTHH:MM:SS``, then ``.fff`` when it has
  milliseconds; exactly midnight, it is the date alone, ``YYYY-MM-DD``.
* A time of day (an Excel or ODS date-time value under one day: serial 0 to
  1, which Excel stores for a time typed alone) is ``HH:MM:SS[.fff]``.
* A duration (an Excel number under an elapsed-time format such as
  ``[h]:mm:ss``, an ODS time value) is ``HH:MM:SS[.fff]`` with as many hour
  digits as it needs (``34:10:10``, ``255:10:09.984``), ``-`` before a
  negative one.

Workbooks store these to the millisecond: values are rounded to it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from airflow_provider_typecheck.validation.lazy_polars import polars as pl

MS_PER_DAY = 86_400_000
# fastexcel's text for an XLSX/XLS date-time: ``2016-10-20 10:11:12``, ``… 10:11:12.500``. (A text cell
# holding ``2016-10-20T10:11:12`` is not one: the T keeps it text.)
DATETIME_TEXT = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?$"
_ISO_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:T([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?)?")
# The date fastexcel gives a serial under 1 (a time of day), by date system.
ZERO_DATE_1900 = "1899-12-31"
ZERO_DATE_1904 = "1904-01-01"
_ISO_DURATION = re.compile(
    r"(-)?P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?)?"
)


def duration_text(milliseconds: int) -> str:
    """``HH:MM:SS`` (more hour digits as needed), ``.fff`` when there are milliseconds, ``-`` when negative."""
    sign = "-" if milliseconds < 0 else ""
    seconds, fraction = divmod(abs(milliseconds), 1000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours:02d}:{minute:02d}:{second:02d}{f'.{fraction:03d}' if fraction else ''}"


def days_text(days: float) -> str:
    """A duration stored as Excel stores it, in days."""
    return duration_text(round(days * MS_PER_DAY))


def iso_duration_text(value: str) -> str | None:
    """An ODS ``office:time-value`` (``PT10H10M10S``, ``P1DT2H``, ``PT0H0M1.5S``); None when it is not one."""
    found = _ISO_DURATION.fullmatch(value.strip())
    if found is None or not any(found.groups()[1:]):
        return None
    negative, days, hours, minutes, seconds = found.groups()
    total = ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes or 0)) * 60
    milliseconds = int(((Decimal(total) + Decimal(seconds or 0)) * 1000).to_integral_value())
    return duration_text(-milliseconds if negative else milliseconds)


def iso_datetime_text(value: str) -> str | None:
    """An ODS ``office:date-value`` (``2016-10-20``, ``2016-10-20T10:11:12.5``); None when it is not one."""
    found = _ISO_DATETIME.fullmatch(value.strip())
    if found is None:
        return None
    date, time, fraction = found.groups()
    millis = ((fraction or "") + "000")[:3]
    if time is None or (time == "00:00:00" and millis == "000"):
        return date
    return f"{date}T{time}{'' if millis == '000' else '.' + millis}"


def datetime_texts(column: str, zero_date: str) -> pl.Expr:
    """Rewrite the cells of ``column`` that hold fastexcel's date-time text (XLSX, XLS) by the rule above.

    ``zero_date``: the date of serial 0 in this workbook (see ``ZERO_DATE_*``),
    whose date-times are times of day.
    """
    text = pl.col(column)
    # fastexcel's layout is fixed: slices, not a regex extraction (this runs on every cell of the column).
    date, time = text.str.slice(0, 10), text.str.slice(11, 8)
    # Milliseconds: the fraction's first three digits (fastexcel gives three), none when zero.
    millis = (text.str.slice(20, 3) + "000").str.slice(0, 3)
    fraction = pl.when(millis == "000").then(pl.lit("")).otherwise("." + millis)
    written = (
        pl.when(date == zero_date).then(time + fraction)
        .when((time == "00:00:00") & (fraction == "")).then(date)
        .otherwise(date + "T" + time + fraction)
    )
    return pl.when(text.str.contains(DATETIME_TEXT)).then(written).otherwise(text).alias(column)
