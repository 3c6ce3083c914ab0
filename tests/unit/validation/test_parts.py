"""A split file's merged report and row files equal one run's over the whole file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from airflow_provider_typecheck.validation import prescan
from airflow_provider_typecheck.validation.engine import validate_file
from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.parts import (
    FilePart,
    merge_reports,
    merge_row_files,
    plan_parts,
    validate_in_parts,
)
from airflow_provider_typecheck.validation.report import ValidationReport

pytestmark = pytest.mark.skipif(not prescan.available(), reason="the split counts records natively")

SCHEMA = {
    "type": "object",
    "required": ["id", "age"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "maxLength": 4},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": "string", "format": "email"},
    },
}
NAMES = ["ann", '"bo\nb"', '"c, d"', '"q""uote"', "", "éà", '"long name"']


def messy_csv(path: Path, seed: int, *, rows: int = 1500, crlf: bool = False, final_newline: bool = True,
              prefix: str = "") -> Path:
    """Quoted newlines and delimiters, escaped quotes, short and long rows, errors anywhere."""
    chance = random.Random(seed)
    lines = ["id,name,age,email"]
    for index in range(rows):
        fields = [str(index), chance.choice(NAMES), chance.choice(["7", "x", "", "150", "-1", "42"]),
                  chance.choice(["a@b.com", "bad", ""])]
        roll = chance.random()
        if roll < 0.004:
            fields = fields[:2]
        elif roll < 0.008:
            fields += ["extra", '"more"']
        lines.append(",".join(fields))
    newline = "\r\n" if crlf else "\n"
    path.write_bytes((prefix + newline.join(lines) + (newline if final_newline else "")).encode())
    return path


def whole_and_split(path: Path, part_bytes: int, tmp_path: Path, **options) -> tuple[dict, dict, int]:
    whole = validate_file(path, SCHEMA, max_errors=40, invalid_out=tmp_path / "whole.csv", **options)
    plan = plan_parts(path, part_bytes=part_bytes, **options)
    assert plan is not None and len(plan.parts) > 1
    reports = [validate_file(path, SCHEMA, part=part, max_errors=40, invalid_out=tmp_path / f"part{part.index}.csv",
                             **options) for part in plan.parts]
    merge_row_files([tmp_path / f"part{part.index}.csv" for part in plan.parts], tmp_path / "merged.csv")
    merged = merge_reports(reports, max_errors=40)
    assert (tmp_path / "merged.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert plan.total_rows == whole.total_rows
    first, second = whole.to_dict(), merged.to_dict()
    first.pop("elapsed_seconds")
    second.pop("elapsed_seconds")
    return first, second, len(plan.parts)


@pytest.mark.parametrize("part_bytes", [600, 4096, 12_000])
@pytest.mark.parametrize(("seed", "crlf", "final_newline"), [(1, False, True), (2, True, True), (3, False, False),
                                                              (4, True, False)])
def test_the_merged_report_is_the_whole_files(tmp_path, part_bytes, seed, crlf, final_newline):
    path = messy_csv(tmp_path / "f.csv", seed, crlf=crlf, final_newline=final_newline)
    whole, merged, parts = whole_and_split(path, part_bytes, tmp_path)
    assert merged == whole
    assert whole["invalid_rows"] and whole["errors_truncated"]


def test_a_quoted_newline_straddles_a_cut(tmp_path):
    body = "id,name,age,email\n" + "1,ann,7,a@b.com\n" * 30 + '2,"a\n' + "x\n" * 40 + 'b",x,bad\n' + "3,ann,7,\n" * 30
    path = tmp_path / "f.csv"
    path.write_text(body)
    cut = body.index('"a\n') + 10  # inside the quoted field
    plan = plan_parts(path, part_bytes=cut)
    assert plan is not None
    starts = {path.read_bytes()[part.start:part.start + 2] for part in plan.parts[1:]}
    assert starts <= {b"1,", b"2,", b"3,"}  # every part starts at a record, never inside the quoted field
    whole, merged, _ = whole_and_split(path, cut, tmp_path)
    assert merged == whole
    assert {error["row"] for error in merged["errors"]} == {32}


def test_errors_on_the_first_and_last_row_of_each_part(tmp_path):
    lines = ["id,name,age,email"] + [f"{i:03d},ann,{'x' if i % 10 in (0, 9) else 7},a@b.com" for i in range(200)]
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    part_bytes = sum(len(line) + 1 for line in lines[1:11])  # ten rows a part
    plan = plan_parts(path, part_bytes=part_bytes)
    assert plan is not None and all(part.rows == 10 for part in plan.parts)
    whole, merged, _ = whole_and_split(path, part_bytes, tmp_path)
    assert merged == whole
    assert [error["row"] for error in merged["errors"]][:4] == [2, 11, 12, 21]


def test_titles_a_byte_order_mark_and_chosen_columns(tmp_path):
    path = messy_csv(tmp_path / "f.csv", 5, prefix="\ufeffQuarterly users\n#generated\n")
    whole, merged, _ = whole_and_split(path, 2000, tmp_path, header_row=3, columns=["id", "age"])
    assert merged == whole
    assert whole["header_row"] == 3


def test_valid_rows_and_parquet_outputs(tmp_path):
    path = messy_csv(tmp_path / "f.csv", 6)
    plan = plan_parts(path, part_bytes=5000)
    assert plan is not None
    report = validate_in_parts(path, SCHEMA, plan, jobs=2, max_errors=40, invalid_out=tmp_path / "bad.parquet",
                               valid_out=tmp_path / "good.csv")
    whole = validate_file(path, SCHEMA, max_errors=40, invalid_out=tmp_path / "bad1.parquet",
                          valid_out=tmp_path / "good1.csv")
    assert report.to_dict() | {"elapsed_seconds": 0} == whole.to_dict() | {"elapsed_seconds": 0}
    assert (tmp_path / "good.csv").read_bytes() == (tmp_path / "good1.csv").read_bytes()
    assert pl.read_parquet(tmp_path / "bad.parquet").equals(pl.read_parquet(tmp_path / "bad1.parquet"))


@pytest.mark.parametrize(("body", "why"), [
    ('id,name\n1,ab"c\n' + "2,x\n" * 400, "a quote inside an unquoted field"),
    ('id,name\n1,"a"b\n' + "2,x\n" * 400, "text after a closing quote"),
    ("id,name\r\n1,a\r2,b\r\n" + "2,x\r\n" * 400, "a bare carriage return"),
    ("id,name\n" + "2,x\n" * 400 + '3,"never closed\n', "a quoted field that never closes"),
])
def test_what_a_cut_could_misplace_is_not_split(tmp_path, body, why):
    path = tmp_path / "f.csv"
    path.write_text(body, newline="")
    assert plan_parts(path, part_bytes=100) is None, why


def test_other_encodings_small_files_ranges_and_workbooks_are_not_split(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("id,name\n" + "1,café\n" * 300).encode("cp1252"))
    assert plan_parts(latin, part_bytes=100) is None
    assert plan_parts(latin, part_bytes=100, encoding="cp1252") is None
    small = messy_csv(tmp_path / "small.csv", 1, rows=3)
    assert plan_parts(small, part_bytes=10_000) is None
    assert plan_parts(messy_csv(tmp_path / "f.csv", 1), part_bytes=500, cell_range="A1:D40") is None
    workbook = tmp_path / "book.xlsx"
    workbook.write_bytes(b"PK" + b"\0" * 5000)
    assert plan_parts(workbook, part_bytes=100) is None


def test_an_unreadable_file_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="file not found"):
        plan_parts(tmp_path / "missing.csv", part_bytes=100)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\n" * 500)
    with pytest.raises(ReadError, match="empty"):
        plan_parts(empty, part_bytes=100)


def test_the_checksum_is_the_whole_files(tmp_path):
    import hashlib

    path = messy_csv(tmp_path / "f.csv", 2)
    plan = plan_parts(path, part_bytes=3000, checksum=True)
    assert plan is not None
    assert plan.checksum == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_changed_after_the_split_fails_its_part(tmp_path):
    path = messy_csv(tmp_path / "f.csv", 3)
    plan = plan_parts(path, part_bytes=3000)
    assert plan is not None
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\n", 40))
    with pytest.raises(ReadError, match="changed after it was split"):
        for part in plan.parts:
            validate_file(path, SCHEMA, part=part)
    with pytest.raises(ReadError, match="changed after it was split"):
        validate_file(path, SCHEMA, part=FilePart(9, 10, path.stat().st_size - 5, path.stat().st_size + 100, 900, 3))


def test_a_part_and_a_report_travel_as_json():
    part = FilePart(index=2, count=5, start=100, end=250, first_row=40, rows=12)
    assert FilePart.from_dict(json.loads(json.dumps(part.to_dict()))) == part
    assert part.describe() == "part 3 of 5 (rows 40-51)"


def test_a_report_read_back_is_the_same(tmp_path):
    path = messy_csv(tmp_path / "f.csv", 4)
    report = validate_file(path, SCHEMA, max_errors=10)
    report.elapsed_seconds = 0.25  # the report keeps six decimals
    again = ValidationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


def test_merging_caps_the_errors_and_keeps_warnings_once():
    def part(rows: int, invalid: int, errors: int) -> ValidationReport:
        from airflow_provider_typecheck.validation.report import CellError

        return ValidationReport(
            file="f.csv", schema_draft="2020-12", header_row=1, total_rows=rows, invalid_rows=invalid,
            errors_by_column={"age": {"type": errors}},
            errors=[CellError(row, "age", "/age", "type", "x", "bad") for row in range(errors)],
            fallback_keywords=["pattern"], warnings=["header note"],
        )

    merged = merge_reports([part(10, 3, 3), part(10, 5, 5), part(10, 0, 0)], max_errors=6)
    assert (merged.total_rows, merged.invalid_rows, merged.errors_by_column) == (30, 8, {"age": {"type": 8}})
    assert len(merged.errors) == 6 and merged.errors_truncated
    assert merged.warnings == ["header note"] and merged.fallback_keywords == ["pattern"]
    exact = merge_reports([part(10, 3, 3), part(10, 3, 3)], max_errors=6)
    assert len(exact.errors) == 6 and not exact.errors_truncated
    with pytest.raises(ValueError):
        merge_reports([], max_errors=1)


def reference_records(data: bytes, targets: list[int]) -> tuple[int, list[tuple[int, int]], int]:
    """The record count of a CSV below its header, byte by byte, as the native count must give it."""
    state, count, found, index = "start", 0, [], 0
    for position, byte in enumerate(data):
        char = chr(byte)
        if state == "cr" and char != "\n":
            return count, found, position
        if state == "quoted" or state == "quoted-cr":
            if state == "quoted-cr" and char != "\n":
                return count, found, position
            state = "closed" if char == '"' else "quoted-cr" if char == "\r" else "quoted"
        elif char == "\n":
            count += 1
            state = "start"
            while index < len(targets) and position + 1 >= targets[index]:
                found.append((position + 1, count))
                index += 1
        elif char == '"':
            if state not in ("start", "closed"):
                return count, found, position
            state = "quoted"
        elif char == ",":
            state = "start"
        elif char == "\r":
            state = "cr"
        elif state == "closed":
            return count, found, position
        else:
            state = "field"
    return count, found, -1


@pytest.mark.parametrize("seed", range(40))
def test_the_native_count_reads_records_as_the_reference_does(seed):
    from airflow_provider_typecheck.validation import _prescan

    chance = random.Random(seed)
    # Some stretches without quotes (the fast path), some with well-formed or stray ones.
    alphabet = chance.choice([["a", ",", "\n"], ["a", ",", "\r\n"], ["a", ",", "\n", '"x"', '"y\nz"', '""'],
                              ["a", ",", "\n", '"', "\r", "\r\n"]])
    data = "".join(chance.choice(alphabet) for _ in range(chance.randint(0, 400))).encode()
    targets = sorted(chance.sample(range(1, 500), 6))
    expected_count, expected_found, expected_problem = reference_records(data, targets)
    # The same bytes in stretches of any length give the same answer.
    cut = chance.randint(0, len(data))
    state, total, found, problem = _prescan.records(data[:cut], ord(","), 1, 0, targets)
    if problem < 0:
        state, more, found_after, problem = _prescan.records(data[cut:], ord(","), state, cut, targets[len(found):])
        found += [(end, total + before) for end, before in found_after]
        total += more
    assert problem == expected_problem
    if problem < 0:
        assert (total, found) == (expected_count, expected_found)


def test_a_file_without_quotes_is_cut_on_its_line_ends(tmp_path):
    lines = ["id,name,age,email"] + [f"{i},ann,{'x' if i % 7 == 0 else 7},a@b.com" for i in range(3000)]
    for newline in ("\n", "\r\n"):
        path = tmp_path / "plain.csv"
        path.write_bytes(newline.join(lines).encode())
        whole, merged, parts = whole_and_split(path, 7000, tmp_path)
        assert merged == whole and parts > 5


def test_a_file_on_an_object_store_is_split_by_ranged_reads(tmp_path):
    import fsspec

    path = messy_csv(tmp_path / "f.csv", 7)
    uri = "memory://typecheck-parts/f.csv"
    with fsspec.open(uri, "wb") as remote:
        remote.write(path.read_bytes())
    try:
        plan = plan_parts(uri, part_bytes=4000, checksum=True)
        local_plan = plan_parts(path, part_bytes=4000, checksum=True)
        assert plan == local_plan and plan is not None
        reports = [validate_file(uri, SCHEMA, part=part, max_errors=40) for part in plan.parts]
        merged = merge_reports(reports, max_errors=40).to_dict()
        whole = validate_file(path, SCHEMA, max_errors=40).to_dict()
        for report in (merged, whole):
            report.pop("elapsed_seconds")
            report.pop("file")
        assert merged == whole
    finally:
        fsspec.filesystem("memory").rm("/typecheck-parts", recursive=True)
