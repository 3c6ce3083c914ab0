"""Row outputs: written whole or not at all, and never over the input."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import polars as pl
import pytest

from airflow_provider_typecheck.validation import OutputError, check_outputs, validate_file

SCHEMA = {"properties": {"id": {"type": "integer"}}}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("id\n" + "".join(f"{i if i % 3 else 'x'}\n" for i in range(1, 101)))
    return path


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_run_that_fails_midway_leaves_no_output(tmp_path: Path, data: Path, suffix: str) -> None:
    valid, invalid = tmp_path / "out" / f"valid{suffix}", tmp_path / "out" / f"invalid{suffix}"

    def fail_after_the_first_batch(done: int, total: int | None) -> None:
        assert valid.parent.exists() and not valid.exists()  # rows so far sit under a temporary name
        raise Interrupted

    with pytest.raises(Interrupted):
        validate_file(data, SCHEMA, valid_out=valid, invalid_out=invalid, batch_rows=10,
                      progress=fail_after_the_first_batch)
    assert list(valid.parent.iterdir()) == []


def test_a_complete_run_renames_its_outputs_into_place(tmp_path: Path, data: Path) -> None:
    valid, invalid = tmp_path / "valid.csv", tmp_path / "invalid.parquet"
    report = validate_file(data, SCHEMA, valid_out=valid, invalid_out=invalid, batch_rows=10)
    assert pl.read_csv(valid).height == report.valid_rows == 67
    assert pl.read_parquet(invalid).height == report.invalid_rows == 33
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "invalid.parquet", "valid.csv"]


def test_an_fsspec_output_appears_only_when_complete(data: Path) -> None:
    memory = fsspec.filesystem("memory")
    target = "memory://typecheck-test-outputs/invalid.csv"
    try:
        validate_file(data, SCHEMA, invalid_out=target)
        assert memory.ls("/typecheck-test-outputs", detail=False) == ["/typecheck-test-outputs/invalid.csv"]
        with pytest.raises(Interrupted):
            validate_file(data, SCHEMA, invalid_out="memory://typecheck-test-outputs/second.csv",
                          progress=lambda done, total: (_ for _ in ()).throw(Interrupted))
        assert memory.ls("/typecheck-test-outputs", detail=False) == ["/typecheck-test-outputs/invalid.csv"]
    finally:
        memory.rm("/typecheck-test-outputs", recursive=True)


def test_outputs_that_are_the_input_are_refused_before_it_is_read(tmp_path: Path, data: Path) -> None:
    link, hard = tmp_path / "link.csv", tmp_path / "hard.csv"
    link.symlink_to(data)
    os.link(data, hard)
    before = data.read_bytes()
    for output in (data, link, hard, f"file://{data}", tmp_path / "sub" / ".." / "in.csv"):
        with pytest.raises(OutputError, match="is the input"):
            validate_file(data, SCHEMA, invalid_out=output)
        with pytest.raises(OutputError, match="is the input"):
            check_outputs(data, valid_out=output)
    with pytest.raises(OutputError, match="the invalid rows' output is the valid rows' output"):
        check_outputs(data, valid_out=tmp_path / "o.csv", invalid_out=tmp_path / "." / "o.csv")
    with pytest.raises(OutputError, match="unknown output type '.xlsx'"):
        check_outputs(data, valid_out=tmp_path / "o.xlsx")
    assert data.read_bytes() == before
