"""The example DAGs in a real Airflow 3: scheduler, triggerer, dag-processor, api-server, one typecheck worker.

``dag.test()`` (test_airflow_dags.py) is the fast layer; it runs triggers inline and never
does what a real triggerer does (``BaseTrigger.task_instance`` sets ``task_id`` on the
trigger, for one). Here every example DAG is triggered through the REST API v2 of a
running Airflow and judged by its final state, its task instances and their XComs.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.airflow_stack import AirflowStack
from tests.integration.conftest import POSTGRES_URI, REDIS_URI

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory every component mounts: the examples' files copied in, as docker-compose does."""
    data = tmp_path_factory.mktemp("data")
    for name in ("users.csv", "users.schema.json"):
        shutil.copy(EXAMPLES / name, data / name)
    return data


@pytest.fixture(scope="module")
def stack(rabbitmq_vhost: str, pg_session_schema: str, data_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    from tests.integration.conftest import RABBITMQ_HOST

    prefix = f"typecheck-test:{uuid.uuid4().hex}:"
    env = {
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@{RABBITMQ_HOST}/{rabbitmq_vhost}",
        "AIRFLOW_CONN_REDIS_DEFAULT": REDIS_URI,
        "AIRFLOW_CONN_POSTGRES_DEFAULT": POSTGRES_URI,
        "TYPECHECK_SCHEMA_STORE": "postgres",
        "TYPECHECK_POSTGRES_SCHEMA": pg_session_schema,
        "TYPECHECK_REDIS_PREFIX": prefix,
        "TYPECHECK_STORAGE_URI": tmp_path_factory.mktemp("store").as_uri(),
        "TYPECHECK_DATA_DIR": str(data_dir),
    }
    airflow = AirflowStack(tmp_path_factory.mktemp("airflow_home"), env)
    try:
        airflow.start()
        airflow.wait_dags({"typecheck_local", "typecheck_validate_file", "typecheck_many_files",
                           "typecheck_event_driven"})
        yield airflow
    finally:
        airflow.stop()
        _delete_redis_keys(prefix)


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URI)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def test_local_dag(stack: AirflowStack, data_dir: Path) -> None:
    run_id = stack.trigger("typecheck_local", {"path": str(data_dir / "users.csv"),
                                               "schema_path": str(data_dir / "users.schema.json")})
    run = stack.wait_run("typecheck_local", run_id)
    assert run["state"] == "success", stack.tails()
    result = stack.xcom("typecheck_local", run_id, "validate")
    assert (result["state"], result["total_rows"], result["invalid_rows"]) == ("invalid", 10, 7)
