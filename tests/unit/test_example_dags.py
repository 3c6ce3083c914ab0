"""The example DAGs parse without touching a service, and have the shape their docstrings promise."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
        # Any connection attempt at parse time would fail against these.
        mp.setenv("AIRFLOW_CONN_RABBITMQ_DEFAULT", "amqp://nobody:nothing@127.0.0.1:1/none")
        mp.setenv("AIRFLOW_CONN_REDIS_DEFAULT", "redis://127.0.0.1:1")
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS))


def test_every_dag_parses(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"typecheck_local", "typecheck_validate_file", "typecheck_many_files",
                                   "typecheck_event_driven"}


def test_validate_file_branches_and_quarantines(dagbag) -> None:
    dag = dagbag.dags["typecheck_validate_file"]
    assert dag.get_task("validate").upstream_task_ids == {"upload_schema"}
    assert dag.get_task("route").downstream_task_ids == {"load", "quarantine"}
    assert dag.get_task("notify").upstream_task_ids == {"load", "quarantine"}
    validate = dag.get_task("validate")
    assert (validate.mode, validate.deferrable, validate.on_invalid) == ("worker", True, "warn")


def test_many_files_maps_over_the_folder(dagbag) -> None:
    dag = dagbag.dags["typecheck_many_files"]
    assert dag.get_task("validate").upstream_task_ids == {"list_files"}
    assert dag.get_task("summarize").upstream_task_ids == {"validate"}


def test_event_driven_is_scheduled_by_an_amqp_watcher(dagbag) -> None:
    from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger

    dag = dagbag.dags["typecheck_event_driven"]
    (asset,) = dag.schedule
    (watcher,) = asset.watchers
    # The watcher's MessageQueueTrigger(scheme="amqp") resolved to this package's trigger.
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == f"{RabbitMQEventTrigger.__module__}.RabbitMQEventTrigger"
    assert kwargs["queue_name"] == "typecheck.files"


def test_local_dag_validates_in_the_task(dagbag) -> None:
    validate = dagbag.dags["typecheck_local"].get_task("validate")
    assert (validate.mode, validate.schema_path) == ("local", "{{ params.schema_path }}")


def test_event_driven_claims_then_maps_one_validation_per_file(dagbag) -> None:
    dag = dagbag.dags["typecheck_event_driven"]
    claim = dag.get_task("claim_files")
    assert [inlet.name for inlet in claim.inlets] == ["typecheck_incoming_files"]
    assert dag.get_task("validate").upstream_task_ids == {"claim_files"}
    assert type(dag.get_task("validate")).__name__ == "MappedOperator"


def test_local_dag_takes_on_invalid_as_a_param(dagbag) -> None:
    dag = dagbag.dags["typecheck_local"]
    assert dag.get_task("validate").on_invalid == "{{ params.on_invalid }}"
    assert dag.params.get_param("on_invalid").schema["enum"] == ["fail", "warn", "skip"]


def test_examples_retry_and_keep_their_files_out_of_the_repository(dagbag) -> None:
    repository = str(DAGS.parent)
    for dag in dagbag.dags.values():
        # A try lost to Airflow's deferral race (apache/airflow#72716) is retried.
        assert all(task.retries >= 1 for task in dag.tasks), dag.dag_id
        for name, param in dag.params.items():
            value = param.value if hasattr(param, "value") else param
            assert not str(value).startswith(repository), (dag.dag_id, name, value)
