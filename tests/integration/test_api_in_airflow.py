"""The plugin: the same app mounted in a real ``airflow api-server`` under ``/typecheck``.

The server runs with its own ``AIRFLOW_HOME`` and a SQLite metadata database in a
temporary folder (``airflow db migrate`` first), on a free port of 127.0.0.1; it finds
the plugin through the package's ``airflow.plugins`` entry point.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.api_support import Api, airflow_api_server
from tests.integration.test_api_workflow import seed_workflow

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq"), pytest.mark.slow]


@pytest.fixture(scope="module")
def airflow_api(api_env: dict[str, str], worker: subprocess.Popen, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("airflow_api_home")
    with airflow_api_server(home, api_env, ready_path="/typecheck/api/v1/healthcheck/simple") as base, \
            httpx.Client(base_url=f"{base}/typecheck/api/v1", timeout=30) as client:
        yield Api(base_url=base, client=client, env=api_env)


def test_the_seed_workflow_through_airflow_api_server(airflow_api: Api) -> None:
    seed_workflow(airflow_api)


def test_mounted_routes_are_guarded_and_documented_under_the_prefix(airflow_api: Api) -> None:
    assert airflow_api.client.get("/users/info").status_code == 401
    document = airflow_api.client.get("/openapi.json").json()
    assert document["servers"] == [{"url": "/typecheck"}]
    assert "/api/v1/validation/upload/{import_name}" in document["paths"]
    # No Swagger UI (it loads from a CDN): the document is served, the page is not.
    assert airflow_api.client.get("/docs").status_code == 404


def test_metrics_are_served_under_the_mount(airflow_api: Api) -> None:
    response = httpx.get(f"{airflow_api.base_url}/typecheck/metrics", timeout=30)
    assert response.status_code == 200 and "typecheck_queue_messages" in response.text
