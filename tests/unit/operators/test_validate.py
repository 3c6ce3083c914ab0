"""SpreadsheetValidateOperator in local mode (no service), its verdicts, XCom, link and lineage."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_typecheck.operators.schema import SchemaUploadOperator
from airflow_provider_typecheck.operators.validate import (
    SpreadsheetValidateOperator,
    ValidationReportLink,
    lineage_dataset,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SCHEMA = str(EXAMPLES / "users.schema.json")
XCOM_KEYS = {"task_id", "state", "schema_version", "file_checksum", "total_rows", "valid_rows", "invalid_rows",
             "errors_by_column", "report_uri"}


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))


@pytest.fixture
def users(tmp_path) -> Path:
    path = tmp_path / "users.csv"
    shutil.copy(EXAMPLES / "users.csv", path)
    return path


@pytest.fixture
def valid_users(tmp_path) -> Path:
    lines = (EXAMPLES / "users.csv").read_text().splitlines()
    path = tmp_path / "valid.csv"
    path.write_text("\n".join([lines[0], lines[1], lines[2], lines[9]]) + "\n")
    return path


def validate(file: Path, **kwargs) -> SpreadsheetValidateOperator:
    return SpreadsheetValidateOperator(task_id="validate", import_name="users", file=str(file), schema_path=SCHEMA,
                                       **kwargs)


def test_valid_file_returns_the_small_xcom(valid_users) -> None:
    result = validate(valid_users).execute({})
    assert set(result) == XCOM_KEYS
    assert (result["state"], result["total_rows"], result["valid_rows"], result["invalid_rows"]) == ("valid", 3, 3, 0)
    assert result["file_checksum"] == "sha256:" + hashlib.sha256(valid_users.read_bytes()).hexdigest()


def test_invalid_rows_fail_by_default_with_the_first_errors_in_the_log(users, capfd) -> None:
    with pytest.raises(AirflowFailException, match="7 of 10 rows"):
        validate(users).execute({})
    assert "row 5, column age, maximum: 151 is greater than the maximum of 150" in capfd.readouterr().out


def test_warn_succeeds_and_quarantines(users, tmp_path) -> None:
    quarantine = tmp_path / "bad.csv"
    result = validate(users, on_invalid="warn", invalid_out=str(quarantine)).execute({})
    assert (result["state"], result["invalid_rows"]) == ("invalid", 7)
    assert result["errors_by_column"]["age"] == {"maximum": 1, "type": 1}
    assert "errors" not in result
    assert quarantine.read_text().count("\n") == 8  # header + 7 rows


def test_skip_raises_skip(users) -> None:
    with pytest.raises(AirflowSkipException, match="7 of 10"):
        validate(users, on_invalid="skip").execute({})


def test_max_invalid_ratio_tolerates_up_to_that_share(users) -> None:
    assert validate(users, max_invalid_ratio=0.7).execute({})["invalid_rows"] == 7
    with pytest.raises(AirflowFailException):
        validate(users, max_invalid_ratio=0.69).execute({})


def test_bad_arguments_are_refused_at_dag_parse() -> None:
    with pytest.raises(ValueError, match="mode"):
        SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="remote")
    with pytest.raises(ValueError, match="on_invalid"):
        SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", on_invalid="ignore")
    with pytest.raises(ValueError, match="max_invalid_ratio"):
        SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", max_invalid_ratio=2)
    with pytest.raises(ValueError, match="registry"):
        SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="worker", schema={})
    with pytest.raises(ValueError, match="exactly one"):
        SchemaUploadOperator(task_id="t", import_name="u")


def test_link_points_at_the_plugin_pages(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080/")
    from airflow.models.taskinstancekey import TaskInstanceKey

    op = SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="worker")
    key = TaskInstanceKey(dag_id="d", task_id="t", run_id="manual__1", try_number=1, map_index=-1)
    assert ValidationReportLink().get_link(op, ti_key=key) == (
        "http://airflow.example:8080/typecheck/ui/task-instance?dag_id=d&run_id=manual__1&task_id=t&map_index=-1")
    op.validation_task_id = "abc123"
    assert ValidationReportLink().get_link(op, ti_key=key) == "http://airflow.example:8080/typecheck/ui/validations/abc123"


def test_openlineage_facets_carry_row_count_and_assertions(users) -> None:
    op = validate(users, on_invalid="warn")
    op.execute({})
    lineage = op.get_openlineage_facets_on_complete(None)
    (dataset,) = lineage.inputs
    assert (dataset.namespace, dataset.name) == ("file", str(users))
    assert dataset.inputFacets["dataQualityMetrics"].rowCount == 10
    assertions = dataset.inputFacets["dataQualityAssertions"].assertions
    assert assertions[0].assertion == "json_schema:users" and assertions[0].success is False
    assert {(a.column, a.assertion, a.actual) for a in assertions[1:]} >= {("age", "maximum", "1"), ("age", "type", "1")}
    assert lineage_dataset("s3://bucket/in/users.csv") == ("s3://bucket", "in/users.csv")
