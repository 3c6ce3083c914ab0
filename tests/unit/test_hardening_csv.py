"""Regression tests of issue 9's CSV findings: wrong verdicts and crashes in reading and the native pre-scan.

Each test names the finding it pins; every one failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_typecheck.validation import prescan, validate_file
from tests.unit.test_prescan import reference, scan_file, suspects_of, write_csv

needs_scan = pytest.mark.skipif(not prescan.available(), reason="the native pre-scan is not built (make env)")

# --------------------------------------------------------------------------- numerals the scan must not misread

# Each is far from 1.0, where python-jsonschema and float() put it; the scan once read the first as 1.0
# (its exponent stopped counting at 100000).
HUGE_EXPONENTS = (
    "0." + "0" * 99_999 + "1e1000000",  # 1e900000: inf
    "1e99999999999999999999",  # inf
    "-1e99999999999999999999",  # -inf
    "1." + "0" * 10 + "e18446744073709551617",  # an exponent that wraps 64 bits to 1: inf
    "1e-18446744073709551615",  # 0.0
)


@needs_scan
@pytest.mark.parametrize("text", HUGE_EXPONENTS, ids=["long-fraction", "inf", "-inf", "wrapping", "tiny"])
def test_huge_exponents_are_suspects_never_cleared(tmp_path: Path, text: str) -> None:
    schema = {"properties": {"v": {"type": "number", "minimum": 0.5, "maximum": 2}}}
    path = write_csv(tmp_path / "numerals.csv", ["v"], [["1"], [text]])
    assert suspects_of(scan_file(path, schema)) == [1]
    report = validate_file(path, schema)
    assert (report.total_rows, report.invalid_rows) == (2, 1)
    assert reference(path, schema)["invalid"] == {3}
