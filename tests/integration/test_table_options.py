"""The table options (range, columns, header row, header policy) over REST, through the job
message, on a real worker: the report is the one the CLI gives for the same file and options."""

from __future__ import annotations

import io
import uuid

import pytest
import xlsxwriter

from airflow_provider_typecheck.validation import validate_file
from tests.integration.api_support import Api, wait_finished

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

STOCK = {"type": "object", "required": ["sku", "stock"],
         "properties": {"sku": {"pattern": "^A-[0-9]$"}, "stock": {"type": "integer", "minimum": 0}}}


def two_tables() -> bytes:
    """A title, then sales in A3:C6 and stock beside it in E3:F5, one stock cell invalid (F5)."""
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True})
    sheet = book.add_worksheet("Data")
    for row, values in enumerate([["Quarterly figures"], [], ["region", "units", "price", None, "sku", "stock"],
                                  ["north", 10, 2.5, None, "A-1", 4], ["south", 3, 3, None, "A-2", -1],
                                  ["east", 7, 1, None, None, None]]):
        for column, value in enumerate(values):
            if value is not None:
                sheet.write(row, column, value)
    book.close()
    return data.getvalue()


@pytest.fixture(scope="module")
def ready(api: Api) -> tuple[str, str]:
    token = api.token()
    name = f"stock_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=STOCK, headers=api.auth(token)).status_code == 201
    return name, token


def test_a_range_uploaded_over_rest_is_checked_by_the_worker_as_the_cli_checks_it(
    api: Api, ready: tuple[str, str], tmp_path,
) -> None:
    name, token = ready
    response = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                               params={"range": "E3:F9", "columns": "sku,stock"},
                               files={"spreadsheet_file": ("tables.xlsx", two_tables())})
    assert response.status_code == 202, response.text
    done = wait_finished(api, token, response.json()["task_id"])
    report = api.client.get(f"/validation/report/{done['task_id']}", headers=api.auth(token)).json()
    local = tmp_path / "tables.xlsx"
    local.write_bytes(two_tables())
    expected = validate_file(local, STOCK, cell_range="E3:F9", columns="sku,stock")
    assert (done["state"], report["header_row"]) == ("invalid", 3)
    assert (report["total_rows"], report["invalid_rows"]) == (expected.total_rows, expected.invalid_rows) == (3, 2)
    assert [(e["row"], e["column"], e["keyword"]) for e in report["errors"]] == [
        (e.row, e.column, e.keyword) for e in expected.errors]


def test_header_row_auto_and_strict_header_reach_the_worker(api: Api, ready: tuple[str, str]) -> None:
    name, token = ready
    csv = b"# stock, counted by hand\nsku,stock,stock\nA-1,4,5\n"
    auto = api.client.post(f"/validation/upload/{name}", headers=api.auth(token), params={"header_row": "auto"},
                           files={"spreadsheet_file": ("stock.csv", csv)})
    assert auto.status_code == 202, auto.text
    status = wait_finished(api, token, auto.json()["task_id"])
    assert status["state"] == "valid", status
    report = api.client.get(f"/validation/report/{status['task_id']}", headers=api.auth(token)).json()
    assert report["header_row"] == 2
    assert "C2 repeats 'stock', named 'stock.1'" in " ".join(report["warnings"])
    strict = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                             params={"header_row": "2", "strict_header": "true"},
                             files={"spreadsheet_file": ("stock.csv", csv)})
    assert strict.status_code == 202, strict.text
    failed = wait_finished(api, token, strict.json()["task_id"])
    assert failed["state"] == "failed"
    assert "header names column 'stock' more than once (cells B2 and C2; the header is row 2)" in failed["error"]


@pytest.mark.parametrize(("params", "detail"), [
    ({"range": "A3-F40"}, "range 'A3-F40' is not a cell range such as A3:F40"),
    ({"header_row": "top"}, "the header row must be a row number or 'auto', got 'top'"),
    ({"range": "A3:B9", "header_row": "1"}, "the header row 1 is outside the range A3:B9"),
])
def test_unusable_table_options_are_refused_before_the_upload_is_read(
    api: Api, ready: tuple[str, str], params: dict[str, str], detail: str,
) -> None:
    name, token = ready
    response = api.client.post(f"/validation/upload/{name}", headers=api.auth(token), params=params,
                               files={"spreadsheet_file": ("stock.csv", b"sku,stock\nA-1,4\n")})
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
