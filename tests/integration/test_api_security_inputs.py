"""An attacker's inputs against a real ``typecheck api`` and ``typecheck worker``.

This module runs its own server and worker (its own virtual host) with a larger
upload limit, so a 2 MB workbook that inflates to 600 MiB can reach the worker,
and so the worker's peak memory (VmHWM) is this module's alone.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.forged_workbooks import lying_workbook
from tests.integration.api_support import (
    Api,
    free_port,
    rabbitmqctl,
    start_cli,
    stop_process,
    wait_finished,
    wait_http,
)
from tests.integration.conftest import POSTGRES_URI, RABBITMQ_HOST
from tests.ref_attacks import SECRET, escaping_schemas, http_listener, secret_file, silent_listener

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

GiB = 1024 ** 3
ID_SCHEMA = {"properties": {"id": {"type": "string"}}, "required": ["id"]}


@pytest.fixture(scope="module")
def own(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, subprocess.Popen]]:
    """A server and a worker of this module's own, on its own virtual host."""
    vhost = f"typecheck_sec_{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {**api_env, "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}",
           "TYPECHECK_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024)}
    logs = tmp_path_factory.mktemp("security_inputs")
    worker = start_cli(["worker"], env, logs / "worker.log")
    port = free_port()
    server = start_cli(["api", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log")
    try:
        deadline = time.monotonic() + 60
        while "consuming typecheck.validation" not in (logs / "worker.log").read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, (logs / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        wait_http(f"http://127.0.0.1:{port}/api/v1/healthcheck/simple", server, logs / "api.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            yield Api(base_url=f"http://127.0.0.1:{port}", client=client, env=env), worker
    finally:
        stop_process(server)
        stop_process(worker)
        rabbitmqctl("delete_vhost", vhost)


def _peak_rss(process: subprocess.Popen) -> int:
    """The process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line")


def _store_unchecked(api: Api, import_name: str, schema: dict) -> None:
    """Write a schema into the store behind the API's back, as a version stored before the
    upload check existed would be: the worker must hold the line on its own."""
    source = json.dumps(schema)
    now = datetime.now(timezone.utc)
    with psycopg.connect(POSTGRES_URI, autocommit=True) as conn:
        quoted = f'"{api.env["TYPECHECK_POSTGRES_SCHEMA"]}"'
        conn.execute(f"INSERT INTO {quoted}.schema_entries (import_name, next_version) VALUES (%s, 2)",
                     (import_name,))
        conn.execute(
            f"INSERT INTO {quoted}.schema_versions (import_name, version, document, source, fingerprint, draft,"
            " created_at, created_by, updated_at, updated_by) VALUES (%s, 1, %s::jsonb, %s, %s, '2020-12', %s,"
            " 'test', %s, 'test')",
            (import_name, source, source, uuid.uuid4().hex, now, now),
        )


@pytest.mark.parametrize("attack", list(escaping_schemas("http://127.0.0.1:1", Path("/s"))))
def test_a_schema_reaching_out_is_422_at_upload_and_nothing_is_fetched(
    own: tuple[Api, subprocess.Popen], attack: str, tmp_path: Path
) -> None:
    api, _ = own
    token = api.token()
    with http_listener() as listener:
        schema = escaping_schemas(listener.url, secret_file(tmp_path))[attack]
        response = api.client.post(f"/schemas/upload/ref_{uuid.uuid4().hex[:8]}", json=schema,
                                   headers=api.auth(token))
    assert response.status_code == 422, response.text
    assert "points outside this schema" in response.json()["detail"]
    assert SECRET not in response.text
    assert listener.requests == []


def test_a_server_that_never_answers_does_not_hold_an_upload(own: tuple[Api, subprocess.Popen]) -> None:
    api, _ = own
    token = api.token()
    with silent_listener() as silent:
        schema = {"properties": {"id": {"$schema": "http://json-schema.org/draft-07/schema#",
                                        "$id": f"{silent.url}/x.json", "$ref": "#/definitions/a"}}}
        # The server used to wait 20 s on the fetch; it must not even connect.
        response = api.client.post(f"/schemas/upload/ref_{uuid.uuid4().hex[:8]}", json=schema,
                                   headers=api.auth(token), timeout=10)
    assert response.status_code == 422
    assert silent.connections == 0


@pytest.mark.parametrize("attack", ["draft-7 subschema, http", "draft-7 subschema, file", "plain file"])
def test_a_worker_given_a_schema_reaching_out_fails_the_task_and_fetches_nothing(
    own: tuple[Api, subprocess.Popen], attack: str, tmp_path: Path
) -> None:
    api, _ = own
    token = api.token()
    import_name = f"ref_{uuid.uuid4().hex[:8]}"
    with http_listener() as listener:
        _store_unchecked(api, import_name, escaping_schemas(listener.url, secret_file(tmp_path))[attack])
        response = api.client.post(f"/validation/upload/{import_name}", headers=api.auth(token),
                                   files={"spreadsheet_file": ("ids.csv", b"id\n1\n")})
        assert response.status_code == 202, response.text
        done = wait_finished(api, token, response.json()["task_id"])
    assert done["state"] == "failed"
    assert "points outside this schema" in done["error"] and "Traceback" not in done["error"]
    assert SECRET not in json.dumps(done)
    assert listener.requests == []


def test_a_workbook_lying_about_its_sizes_is_refused_by_the_worker_in_bounded_memory(
    own: tuple[Api, subprocess.Popen], tmp_path: Path
) -> None:
    api, worker = own
    token = api.token()
    import_name = f"zip_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{import_name}", json=ID_SCHEMA,
                           headers=api.auth(token)).status_code == 201
    forged = lying_workbook(tmp_path / "forged.xlsx")  # declares 1,000 bytes, inflates to 600 MiB
    response = api.client.post(f"/validation/upload/{import_name}", headers=api.auth(token),
                               files={"spreadsheet_file": ("forged.xlsx", forged.read_bytes())})
    assert response.status_code == 202, response.text
    done = wait_finished(api, token, response.json()["task_id"])
    assert done["state"] == "failed"
    assert done["error"].startswith("forged.xlsx: part 'xl/worksheets/sheet1.xml' inflates past the 1,000 bytes "
                                    "its zip directory declares"), done["error"]
    assert _peak_rss(worker) < 1 * GiB


def test_reports_and_errors_name_files_as_uploaded_never_by_store_path(own: tuple[Api, subprocess.Popen]) -> None:
    api, _ = own
    token = api.token()
    store = api.env["TYPECHECK_STORAGE_URI"].removeprefix("file://")
    import_name = f"names_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{import_name}", json=ID_SCHEMA,
                           headers=api.auth(token)).status_code == 201
    finished = []
    for name, content in (("people.csv", b"id\n1\n"), ("broken.xlsx", b"PK\x03\x04 not a workbook")):
        response = api.client.post(f"/validation/upload/{import_name}", headers=api.auth(token),
                                   files={"spreadsheet_file": (name, content)})
        assert response.status_code == 202, response.text
        finished.append(wait_finished(api, token, response.json()["task_id"]))
    valid, failed = finished
    report = api.client.get(f"/validation/report/{valid['task_id']}", headers=api.auth(token))
    assert report.status_code == 200 and report.json()["file"] == "people.csv"
    assert store not in report.text
    assert failed["state"] == "failed" and "broken.xlsx" in failed["error"]
    assert store not in json.dumps(failed)
