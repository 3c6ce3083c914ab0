"""SpreadsheetValidateOperator in local mode (no service), its verdicts, XCom, link and lineage."""

from __future__ import annotations

import hashlib
import json
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
XCOM_KEYS = {"validation_id", "mode", "state", "import_name", "file", "schema_version", "file_checksum", "total_rows",
             "valid_rows", "invalid_rows", "errors_by_column", "report_uri"}


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch):
    from airflow_provider_typecheck.settings import get_settings

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("TYPECHECK_STORAGE_URI", (tmp_path / "store").as_uri())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


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
    # The full report is kept where the workers keep theirs; XCom names it.
    assert result["report_uri"].endswith(f"{result['validation_id']}.json")
    report = json.loads(Path(result["report_uri"].removeprefix("file://")).read_text())
    assert (report["total_rows"], report["errors"]) == (3, [])


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
    op.validation_id = "abc123"
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


def test_row_level_errors_are_named_row_in_the_log_and_the_counts(users, capfd) -> None:
    result = validate(users, on_invalid="warn").execute({})
    assert "" not in result["errors_by_column"] and result["errors_by_column"]["(row)"] == {"required": 1}
    log = capfd.readouterr().out
    assert "row 8, (row), required: 'name' is a required property" in log
    assert "column None" not in log and "'': {" not in log


def test_templated_options_are_rendered_then_typed(users, tmp_path) -> None:
    from airflow.sdk import DAG

    with DAG("templated", schedule=None):
        op = validate(users, on_invalid="{{ params.on_invalid }}", max_invalid_ratio="{{ params.ratio }}",
                      max_errors="{{ params.max_errors }}", timeout="{{ params.timeout }}", sheet="{{ params.sheet }}",
                      delimiter="{{ params.delimiter }}", encoding="{{ params.encoding }}",
                      header_row="{{ params.header_row }}")
    assert {"on_invalid", "max_invalid_ratio", "max_errors", "timeout", "sheet", "delimiter", "encoding",
            "header_row"} <= set(op.template_fields)
    op.render_template_fields({"params": {"on_invalid": "skip", "ratio": "0.5", "max_errors": "2", "timeout": "60",
                                          "sheet": "", "delimiter": ",", "encoding": "utf-8", "header_row": "1"}})
    with pytest.raises(AirflowSkipException, match="7 of 10"):
        op.execute({})
    assert (op.on_invalid, op.max_invalid_ratio, op.max_errors, op.timeout) == ("skip", 0.5, 2, 60.0)
    assert (op.sheet, op.delimiter, op.encoding, op.header_row) == (None, ",", "utf-8", 1)


def test_a_rendered_option_out_of_range_fails_the_task_clearly(users) -> None:
    op = validate(users, on_invalid="{{ params.x }}", max_invalid_ratio="{{ params.y }}")
    op.on_invalid, op.max_invalid_ratio = "ignore", "0.1"
    with pytest.raises(ValueError, match="on_invalid must be"):
        op.execute({})
    op.on_invalid, op.max_invalid_ratio = "warn", "1.5"
    with pytest.raises(ValueError, match="max_invalid_ratio must be between 0 and 1"):
        op.execute({})


def test_encoding_and_header_row_as_the_cli_takes_them(tmp_path) -> None:
    source = (EXAMPLES / "users.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "greek.csv"
    # A title row above the header, and a name only cp1253 spells as it is.
    rows = ["Export of 2026-12-07", source[0], source[1].replace("Ana Gómez", "Αννα", 1), source[2]]
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1253"))
    valid_out = tmp_path / "valid.csv"
    result = validate(path, encoding="cp1253", header_row=2, valid_out=str(valid_out)).execute({})
    assert (result["state"], result["total_rows"]) == ("valid", 2)
    assert "1,Αννα,ana@example.com" in valid_out.read_text(encoding="utf-8")
    # The job contract carries it to the workers too.
    worker = SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="worker", header_row="2")
    assert worker._table_options() == {"header_row": 2}


def test_connection_ids_and_schema_store_override_the_settings() -> None:
    from airflow_provider_typecheck.services import get_services

    plain = SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="worker")
    assert plain._services() is get_services()
    op = SpreadsheetValidateOperator(task_id="t", import_name="u", file="f", mode="worker", rabbitmq_conn_id="mq",
                                     redis_conn_id="cache", mongo_conn_id="docs", postgres_conn_id="warehouse",
                                     schema_store="postgres")
    settings = op._services().settings
    assert (settings.rabbitmq_conn_id, settings.redis_conn_id, settings.mongo_conn_id, settings.postgres_conn_id,
            settings.schema_store) == ("mq", "cache", "docs", "warehouse", "postgres")
    assert op._services() is op._services()  # built once per execution
    op._close_services()
    with pytest.raises(ValueError, match="schema_store"):
        SchemaUploadOperator(task_id="t", import_name="u", schema={}, schema_store="mysql")
