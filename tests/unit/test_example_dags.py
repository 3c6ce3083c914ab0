"""The example DAGs parse without touching a service and their tasks do what they say."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def sample_dag(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    spec = importlib.util.spec_from_file_location("typecheck_validate_sample", DAGS / "typecheck_validate_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.typecheck_validate_sample()


def test_sample_dag_shape(sample_dag) -> None:
    assert sample_dag.dag_id == "typecheck_validate_sample"
    assert [task.task_id for task in sample_dag.tasks] == ["validate"]
    assert Path(sample_dag.params["path"]).name == "users.csv"


def test_validate_task_returns_the_summary_and_quarantines(sample_dag, tmp_path) -> None:
    data = tmp_path / "users.csv"
    shutil.copy(EXAMPLES / "users.csv", data)
    validate = sample_dag.get_task("validate").python_callable
    summary = validate(str(data), str(EXAMPLES / "users.schema.json"), False)
    assert (summary["total_rows"], summary["invalid_rows"]) == (10, 7)
    assert "errors" not in summary  # XCom gets the small summary, never the error list
    assert (tmp_path / "users.invalid.csv").read_text().count("\n") == 8  # header + 7 rows
    with pytest.raises(ValueError, match="7 of 10 rows"):
        validate(str(data), str(EXAMPLES / "users.schema.json"), True)
