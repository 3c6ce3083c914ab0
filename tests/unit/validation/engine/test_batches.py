"""The engine on frames big enough for its batch and distinct-value paths, against python-jsonschema."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import polars as pl
import pytest
from jsonschema import Draft202012Validator

from airflow_provider_typecheck.validation import validate_file, validate_frame
from airflow_provider_typecheck.validation.cells import coerce_text

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "day": {"type": "string", "format": "date"},
        "plan": {"type": "string", "pattern": "^(free|pro|team)-[0-9]{2}$"},
        "score": {"type": "number", "exclusiveMaximum": 100, "multipleOf": 0.5},
        "big": {"type": "number", "maximum": 1e300},
        "note": {"type": ["string", "null"], "maxLength": 5},
    },
    "required": ["id", "day", "plan"],
    "additionalProperties": False,
}
ALLOWED = {"id": {"integer"}, "day": {"string"}, "plan": {"string"}, "score": {"number"}, "big": {"number"}, "note": {"string", "null"}}


def make_frame(rows: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    days = [f"2024-{m:02d}-{d:02d}" for m in (1, 2, 3) for d in (1, 15, 28, 29, 30, 31)]
    plans = ["free-01", "pro-22", "team-99", "gold-01", "pro-1", "pro-22\n", "pro-22\nx"]
    scores = ["1", "99.5", "100", "12.25", "-3", "abc", "", "99999999999999999999999"]
    bigs = ["1", "1e400", "-1e400", "inf", "nan", "1e299", "99999999999999999999999", "0.5"]
    notes = ["", "ok", "toolong", None]
    return pl.DataFrame({
        "id": [rng.choice([str(i), str(i), "0", "x", ""]) for i in range(rows)],
        "day": [rng.choice(days) for _ in range(rows)],
        "plan": [rng.choice(plans) for _ in range(rows)],
        "score": [rng.choice(scores) for _ in range(rows)],
        "big": [rng.choice(bigs) for _ in range(rows)],
        "note": [rng.choice(notes) for _ in range(rows)],
    })


def reference(frame: pl.DataFrame) -> tuple[set[int], dict[tuple[str | None, str], int]]:
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    invalid, counts = set(), {}
    for number, cells in enumerate(frame.iter_rows(named=True), start=2):
        row = {}
        for name, text in cells.items():
            value = coerce_text(text, frozenset(ALLOWED[name]))
            if value is not coerce_text("", frozenset()):  # the ABSENT marker
                row[name] = value
        for error in validator.iter_errors(row):
            invalid.add(number)
            key = (error.path[0] if error.path else "", error.validator)
            counts[key] = counts.get(key, 0) + 1
    return invalid, counts


def flatten(errors_by_column: dict) -> dict:
    return {(column, keyword): n for column, by in errors_by_column.items() for keyword, n in by.items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_repetitive_columns_match_python_jsonschema(seed: int) -> None:
    frame = make_frame(5000, seed)
    invalid, counts = reference(frame)
    report = validate_frame(frame, SCHEMA, max_errors=100_000)
    assert report.invalid_rows == len(invalid)
    assert {e.row for e in report.errors} == invalid
    assert flatten(report.errors_by_column) == counts


def test_batches_add_up_to_the_whole(tmp_path: Path) -> None:
    frame = make_frame(3000, 3)
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    whole = validate_file(path, SCHEMA, max_errors=100_000)
    pieces = validate_file(path, SCHEMA, max_errors=100_000, batch_rows=700)
    seen = []
    validate_file(path, SCHEMA, batch_rows=1000, progress=lambda done, total: seen.append((done, total)))
    assert pieces.errors_by_column == whole.errors_by_column
    assert [e.to_dict() for e in pieces.errors] == [e.to_dict() for e in whole.errors]
    assert (pieces.total_rows, pieces.invalid_rows) == (whole.total_rows, whole.invalid_rows) == (3000, whole.invalid_rows)
    # Batches hold about 1,000 rows (the native pre-scan cuts them by bytes); the total is known at the end.
    assert len(seen) >= 3 and seen[-1] == (3000, 3000)
    assert all(done < later for (done, _), (later, _) in itertools.pairwise(seen))


def test_rows_python_decides_are_labelled_in_the_quarantine_file(tmp_path: Path) -> None:
    frame = pl.DataFrame({"age": ["99999999999999999999999", "5", "1e400", "nan"]})
    out = tmp_path / "invalid.csv"
    schema = {"properties": {"age": {"type": "integer", "maximum": 150}}}
    report = validate_frame(frame, schema, invalid_out=out)
    assert report.errors_by_column == {"age": {"maximum": 2, "type": 2}}
    assert pl.read_csv(out, infer_schema=False).select("_row", "_errors").rows() == [
        ("2", "age:maximum"), ("4", "age:type; age:maximum"), ("5", "age:type"),
    ]


def test_the_native_prescan_is_built() -> None:
    # The build goes on without a C compiler (the extension is optional), and then every
    # pre-scan test skips: this one says so instead of letting the speed vanish quietly.
    from airflow_provider_typecheck.validation import prescan

    assert prescan.available(), "the C extension validation/_prescan was not built: `make env` needs a C compiler"
