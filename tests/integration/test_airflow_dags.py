"""The example DAGs run end to end with ``dag.test()``: real PostgreSQL, Redis, RabbitMQ and a real worker.

``dag.test()`` runs deferred operators' triggers inline, so ``mode="worker"`` publishes a
job, a ``typecheck worker`` process (started by the fixture) validates it, and the
trigger reads the result from Redis, all as in production minus the scheduler.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pika
import pytest

from tests.integration.jobs_support import job_env, start_worker  # noqa: F401

pytestmark = pytest.mark.integration("rabbitmq")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite metadata database, shared by this module's runs."""
    home = tmp_path_factory.mktemp("dag_test_home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)
    return home


@pytest.fixture
def run_dag(airflow_db, job_env, tmp_path):
    def run(dag_id: str, conf: dict, folder: Path = ROOT / "dags") -> dict:
        env = {**os.environ, **job_env, "AIRFLOW_HOME": str(airflow_db), "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests/integration/dag_run.py"), str(folder / f"{dag_id}.py"), dag_id,
             json.dumps(conf)],
            env=env, capture_output=True, text=True, timeout=240,
        )
        (tmp_path / f"{dag_id}.log").write_text(done.stdout + done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_RUN ")]
        assert lines, f"dag.test() printed no outcome:\n{(done.stdout + done.stderr)[-4000:]}"
        return json.loads(lines[-1].removeprefix("DAG_RUN "))

    return run


@pytest.fixture
def users(tmp_path) -> Path:
    path = tmp_path / "in" / "users.csv"
    path.parent.mkdir()
    shutil.copy(EXAMPLES / "users.csv", path)
    return path


def test_local_dag_needs_no_service(run_dag, users) -> None:
    quarantine = users.parent / "quarantine" / "users.invalid.csv"
    outcome = run_dag("typecheck_local", {"path": str(users), "schema_path": str(EXAMPLES / "users.schema.json"),
                                          "quarantine": str(quarantine)})
    assert outcome["state"] == "success"
    result = outcome["tasks"]["validate"]["xcom"]
    assert (result["state"], result["total_rows"], result["invalid_rows"]) == ("invalid", 10, 7)
    assert quarantine.read_text().count("\n") == 8


@contextlib.contextmanager
def airflow_api_server(home: Path, env: dict[str, str], log: Path):
    """A real ``airflow api-server`` (every user an admin: Airflow's simple auth manager) on a free port."""
    from tests.integration.api_support import free_port, wait_http

    port = free_port()
    env = {**os.environ, **env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", process, log, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_validate_file_dag_routes_invalid_rows_to_quarantine(
    run_dag, start_worker, users, unique, tmp_path, airflow_db, job_env
) -> None:
    start_worker()
    quarantine = tmp_path / "quarantine.csv"
    outcome = run_dag("typecheck_validate_file", {
        "import_name": f"users_{unique}", "path": str(users), "schema_path": str(EXAMPLES / "users.schema.json"),
        "quarantine": str(quarantine),
    })
    tasks = outcome["tasks"]
    assert outcome["state"] == "success", tasks
    assert tasks["upload_schema"]["xcom"] == {"import_name": f"users_{unique}", "version": 1, "status": "created"}
    result = tasks["validate"]["xcom"]
    assert (result["state"], result["schema_version"], result["invalid_rows"]) == ("invalid", 1, 7)
    assert result["report_uri"] and result["validation_id"]
    assert (tasks["load"]["state"], tasks["quarantine"]["state"]) == ("skipped", "success")
    assert tasks["notify"]["xcom"] == f"7 of 10 rows quarantined in {quarantine}"
    assert quarantine.read_text().count("\n") == 8

    # The report, as Airflow's UI shows it on that task instance (the plugin's external view).
    import httpx

    with airflow_api_server(airflow_db, job_env, tmp_path / "api-server.log") as base:
        plugins = httpx.get(f"{base}/api/v2/plugins", timeout=30).json()["plugins"]
        (ours,) = [p for p in plugins if p["name"] == "typecheck"]
        assert {v["destination"] for v in ours["external_views"]} == {"task_instance", "nav"}
        view = httpx.get(f"{base}/typecheck/ui/task-instance", timeout=30, params={
            "dag_id": "typecheck_validate_file", "run_id": outcome["run_id"], "task_id": "validate", "map_index": "{MAP_INDEX}"})
        assert view.status_code == 200, view.text
        assert "users.csv" in view.text and "maximum" in view.text
        report = httpx.get(f"{base}/typecheck/ui/validations/{result['validation_id']}/report.json", timeout=30).json()
        assert (report["total_rows"], report["invalid_rows"]) == (10, 7)
        listing = httpx.get(f"{base}/typecheck/ui/validations", params={"import_name": f"users_{unique}"}, timeout=30)
        assert result["validation_id"] in listing.text


def test_many_files_dag_maps_and_sums(run_dag, start_worker, users, unique) -> None:
    from airflow_provider_typecheck.operators.schema import SchemaUploadOperator

    start_worker()
    lines = users.read_text().splitlines()
    (users.parent / "clean.csv").write_text("\n".join([lines[0], lines[1], lines[2]]) + "\n")
    SchemaUploadOperator(task_id="u", import_name=f"users_{unique}", schema_path=str(EXAMPLES / "users.schema.json")
                         ).execute({})
    outcome = run_dag("typecheck_many_files", {"import_name": f"users_{unique}", "folder": str(users.parent)})
    tasks = outcome["tasks"]
    assert outcome["state"] == "success", tasks
    assert {name for name in tasks if name.startswith("validate[")} == {"validate[0]", "validate[1]"}
    assert tasks["summarize"]["xcom"] == {"files": 2, "valid_files": 1, "total_rows": 12, "invalid_rows": 7}


def test_event_driven_dag_from_a_message(run_dag, start_worker, users, unique, rabbitmq_uri) -> None:
    """The watcher's own trigger takes the file-arrival message; its payload drives the DAG run."""
    import asyncio
    import contextlib

    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_typecheck.operators.schema import SchemaUploadOperator
    from airflow_provider_typecheck.queues.files import declare_files_queue
    from airflow_provider_typecheck.triggers.rabbitmq import RabbitMQEventTrigger

    import_name = f"users_{unique}"
    SchemaUploadOperator(task_id="u", import_name=import_name, schema_path=str(EXAMPLES / "users.schema.json")
                         ).execute({})
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
    channel = connection.channel()
    declare_files_queue(channel)
    channel.queue_purge("typecheck.files")
    channel.basic_publish("", "typecheck.files", json.dumps({"import_name": import_name, "file": str(users)}).encode())

    dag = DagBag(dag_folder=str(ROOT / "dags" / "typecheck_event_driven.py")).dags["typecheck_event_driven"]
    (asset,) = dag.schedule
    (watcher,) = asset.watchers
    # What the triggerer builds from the watcher's serialized form: this package's trigger.
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow_provider_typecheck.triggers.rabbitmq.RabbitMQEventTrigger"
    trigger = RabbitMQEventTrigger(**kwargs)

    async def message() -> dict:
        async with contextlib.aclosing(trigger.run()) as events:
            return (await anext(events)).payload

    body = asyncio.run(message())["body"]
    assert channel.queue_declare("typecheck.files", passive=True).method.message_count == 0
    connection.close()

    start_worker()
    outcome = run_dag("typecheck_event_driven", body)
    tasks = outcome["tasks"]
    # Run by hand (dag.test has no triggering events): the params' file, mapped like an announced one.
    assert tasks["claim_files"]["xcom"] == [{"import_name": import_name, "file": str(users)}]
    result = tasks["validate[0]"]["xcom"]
    assert (result["state"], result["invalid_rows"], result["file"]) == ("invalid", 7, str(users))


def test_every_outcome_of_a_deferred_validation(run_dag, start_worker, users, unique, tmp_path) -> None:
    from airflow_provider_typecheck.operators.schema import SchemaUploadOperator

    start_worker()
    import_name = f"users_{unique}"
    SchemaUploadOperator(task_id="u", import_name=import_name, schema_path=str(EXAMPLES / "users.schema.json")
                         ).execute({})
    lines = users.read_text().splitlines()
    valid = tmp_path / "valid.csv"
    valid.write_text("\n".join([lines[0], lines[1], lines[2], lines[9]]) + "\n")
    outcome = run_dag("typecheck_outcomes", {
        "import_name": import_name, "valid": str(valid), "invalid": str(users), "missing": str(tmp_path / "gone.csv"),
    }, folder=ROOT / "tests/integration/dags")
    states = {name: task["state"] for name, task in outcome["tasks"].items()}
    assert states == {"valid": "success", "invalid_fail": "failed", "invalid_warn": "success",
                      "invalid_skip": "skipped", "tolerated": "success", "failed": "failed", "timed_out": "failed"}
    tasks = outcome["tasks"]
    assert (tasks["valid"]["xcom"]["state"], tasks["valid"]["xcom"]["invalid_rows"]) == ("valid", 0)
    assert (tasks["invalid_warn"]["xcom"]["state"], tasks["invalid_warn"]["xcom"]["invalid_rows"]) == ("invalid", 7)
    # The messages of each failure are asserted at the operator's level (test_airflow_validate_worker.py).
    assert tasks["invalid_fail"]["xcom"] is None and tasks["timed_out"]["xcom"] is None
