"""SpreadsheetValidateOperator takes the table options the CLI takes: range, columns, header row and policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_typecheck.jobs.contract import JobOptions
from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator
from airflow_provider_typecheck.validation import ReadError, validate_file

SCHEMA = {"type": "object", "required": ["sku", "stock"],
          "properties": {"sku": {"pattern": "^A-[0-9]$"}, "stock": {"type": "integer", "minimum": 0}}}


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))


@pytest.fixture
def stock(tmp_path) -> Path:
    path = tmp_path / "stock.csv"
    path.write_text("# counted by hand\nregion,units,,sku,stock,stock\nnorth,10,,A-1,4,0\nsouth,3,,A-2,5,1\n"
                    "east,7,,B-3,6,2\n")
    return path


def test_local_mode_checks_the_table_the_options_name(stock: Path) -> None:
    options = {"header_row": "auto", "cell_range": "D:E", "columns": ["sku", "stock"]}
    op = SpreadsheetValidateOperator(task_id="validate", import_name="stock", file=str(stock), schema=SCHEMA,
                                     on_invalid="warn", **options)
    result = op.execute({})
    expected = validate_file(stock, SCHEMA, **options)
    assert (result["total_rows"], result["invalid_rows"]) == (expected.total_rows, expected.invalid_rows) == (3, 1)
    assert result["errors_by_column"] == expected.errors_by_column == {"sku": {"pattern": 1}}


def test_the_options_are_checked_and_carried_as_the_job_message_carries_them(stock: Path) -> None:
    op = SpreadsheetValidateOperator(task_id="v", import_name="stock", file=str(stock), mode="worker",
                                     header_row="2", cell_range="a2:f9", columns="sku,stock", strict_header=True)
    carried = op._table_options()
    assert carried == {"header_row": 2, "cell_range": "A2:F9", "columns": ("sku", "stock"), "strict_header": True}
    assert JobOptions(**carried).table_options() == carried
    strict = SpreadsheetValidateOperator(task_id="v", import_name="stock", file=str(stock), schema=SCHEMA,
                                         header_row=2, strict_header=True)
    with pytest.raises(ReadError, match=r"header cell C2 is empty \(the header is row 2\)"):
        strict.execute({})
    with pytest.raises(ReadError, match="is not a cell range"):
        SpreadsheetValidateOperator(task_id="v", import_name="stock", file=str(stock), schema=SCHEMA,
                                    cell_range="D-E").execute({})
