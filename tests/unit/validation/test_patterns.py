"""A pattern that backtracks catastrophically costs a bounded time per cell, and says so."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_typecheck.validation.patterns import PatternTooSlow, search

# Both hang python-jsonschema's re.search for hours on forty "a" and a "b"; the
# first runs in Polars (Rust's regex), the second needs Python (a lookahead).
PATTERNS = ["^(a|aa)+$", "^(?=a)(a|aa)+$"]

_RUN = """
import json, sys
import polars as pl
from airflow_provider_typecheck.validation import validate_frame
pattern = sys.argv[1]
texts = ["a" * 40 + "b", "a" * 40 + "b\\n", "aaaa", "ab"]
report = validate_frame(pl.DataFrame({"v": texts}), {"properties": {"v": {"pattern": pattern}}})
print(json.dumps({"counts": report.errors_by_column, "invalid": report.invalid_rows,
                  "messages": [(e.row, e.keyword, e.message) for e in report.errors]}))
"""


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_catastrophic_pattern_ends_with_an_error_on_the_cell(pattern: str) -> None:
    # In a subprocess: without the budget it would never return, and the timeout fails the test.
    result = subprocess.run([sys.executable, "-c", _RUN, pattern], capture_output=True, text=True, timeout=120,
                            check=True)
    report = json.loads(result.stdout)
    assert report["invalid"] == 3
    assert report["counts"] == {"v": {"pattern": 3}}
    too_slow = f"(41 characters) could not be matched against {pattern!r} within 0.1 s; counted as not matching"
    messages = report["messages"]
    assert [row for row, _, _ in messages] == [2, 3, 5]
    assert all(keyword == "pattern" for _, keyword, _ in messages)
    assert messages[0][2].endswith(too_slow)
    assert "could not be matched" in messages[1][2]  # the newline sends the row to python-jsonschema
    assert messages[2][2] == f"'ab' does not match {pattern!r}"


def test_search_agrees_with_re_and_raises_past_the_budget() -> None:
    import re

    for pattern, text in [(r"^\w+$", "héllo"), (r"(?<=a)b", "ab"), (r"^(\d+)-\1$", "12-12"), (r"x$", "x\n")]:
        assert search(pattern, text) == (re.search(pattern, text) is not None)
    with pytest.raises(PatternTooSlow):
        search("^(a|aa)+$", "a" * 40 + "b", timeout=0.01)
