"""An attacker's inputs against a real ``typecheck api`` and ``typecheck worker``.

This module runs its own server and worker (its own virtual host) with a larger
upload limit, so a 2 MB workbook that inflates to 600 MiB can reach the worker,
and so the worker's peak memory (VmHWM) is this module's alone.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Own:
    api: Api
    server: subprocess.Popen
    worker: subprocess.Popen
    logs: Path


@pytest.fixture(scope="module")
def own(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
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
            yield Own(Api(base_url=f"http://127.0.0.1:{port}", client=client, env=env), server, worker, logs)
    finally:
        stop_process(server)
        stop_process(worker)
        rabbitmqctl("delete_vhost", vhost)


def _memory(pid: int, field: str = "VmHWM") -> int:
    """A process's resident memory from /proc (VmHWM: its high-water mark), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} line")


def _peak_rss(process: subprocess.Popen) -> int:
    return _memory(process.pid)


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
    own: Own, attack: str, tmp_path: Path
) -> None:
    api = own.api
    token = api.token()
    with http_listener() as listener:
        schema = escaping_schemas(listener.url, secret_file(tmp_path))[attack]
        response = api.client.post(f"/schemas/upload/ref_{uuid.uuid4().hex[:8]}", json=schema,
                                   headers=api.auth(token))
    assert response.status_code == 422, response.text
    assert "points outside this schema" in response.json()["detail"]
    assert SECRET not in response.text
    assert listener.requests == []


def test_a_server_that_never_answers_does_not_hold_an_upload(own: Own) -> None:
    api = own.api
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
    own: Own, attack: str, tmp_path: Path
) -> None:
    api = own.api
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
    own: Own, tmp_path: Path
) -> None:
    api, worker = own.api, own.worker
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


def test_reports_and_errors_name_files_as_uploaded_never_by_store_path(own: Own) -> None:
    api = own.api
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


NOTES_SCHEMA = {"properties": {"id": {"type": "integer"}, "note": {"type": "string"}}}
FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def _finished_upload(api: Api, token: str, schema: dict, file_name: str, content: bytes) -> dict:
    import_name = f"sec_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{import_name}", json=schema, headers=api.auth(token)).status_code == 201
    response = api.client.post(f"/validation/upload/{import_name}", headers=api.auth(token),
                               files={"spreadsheet_file": (file_name, content)})
    assert response.status_code == 202, response.text
    return wait_finished(api, token, response.json()["task_id"])


def test_the_invalid_rows_download_neutralises_formulas_unless_raw(own: Own) -> None:
    api = own.api
    token = api.token()
    rows = [("x", note) for note in [*FORMULAS, "-5", "plain"]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([("id", "note"), *rows])
    done = _finished_upload(api, token, NOTES_SCHEMA, "notes.csv", buffer.getvalue().encode())
    assert done["state"] == "invalid"
    url = f"/validation/report/{done['task_id']}"
    safe = api.client.get(url, params={"format": "csv"}, headers=api.auth(token))
    assert safe.status_code == 200
    notes = [row["note"] for row in csv.DictReader(io.StringIO(safe.text, newline=""))]
    assert notes == [*("'" + formula for formula in FORMULAS), "-5", "plain"]
    raw = api.client.get(url, params={"format": "csv", "raw": "true"}, headers=api.auth(token))
    stored = Path(api.env["TYPECHECK_STORAGE_URI"].removeprefix("file://"))
    stored_rows = [path for path in stored.rglob(f"*{done['task_id']}*") if path.suffix == ".csv"]
    assert len(stored_rows) == 1 and raw.content == stored_rows[0].read_bytes()
    assert [row["note"] for row in csv.DictReader(io.StringIO(raw.text, newline=""))] == [*FORMULAS, "-5", "plain"]


def test_a_header_that_opens_a_comment_and_a_script_cannot_break_the_report_page(own: Own) -> None:
    api = own.api
    token = api.token()
    header = "<!--<script>"
    schema = {"properties": {header: {"type": "integer"}}}
    done = _finished_upload(api, token, schema, "page.csv", f"{header}\nx\n".encode())
    page = api.client.get(f"/validation/report/{done['task_id']}", params={"format": "html"},
                          headers=api.auth(token))
    assert page.status_code == 200
    data = page.text.split('<script type="application/json" id="chart-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "&" not in data
    assert json.loads(data)[0]["column"] == header
    assert page.text.count("<script") == 2  # the data block and the page's own script, nothing from the file


def test_html_responses_carry_a_policy_with_no_other_origin(own: Own) -> None:
    api = own.api
    token = api.token()
    done = _finished_upload(api, token, NOTES_SCHEMA, "headers.csv", b"id,note\nx,a\n")
    page = api.client.get(f"/validation/report/{done['task_id']}", params={"format": "html"},
                          headers=api.auth(token))
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert "http" not in policy and "*" not in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert api.client.get("/healthcheck/simple").headers["x-content-type-options"] == "nosniff"


def test_bodies_are_capped_while_they_stream(own: Own) -> None:
    api = own.api
    token = api.token()
    limit = 4 * 1024 * 1024  # TYPECHECK_MAX_SCHEMA_BYTES's default
    declared = api.client.post(f"/schemas/upload/big_{uuid.uuid4().hex[:6]}", headers=api.auth(token),
                               content=b'{"description": "' + b"x" * limit + b'"}',
                               params={}, timeout=60)
    assert declared.status_code == 413
    assert declared.json()["detail"] == f"the schema is larger than TYPECHECK_MAX_SCHEMA_BYTES ({limit} bytes)"

    Path(f"/proc/{own.server.pid}/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
    before = _memory(own.server.pid, "VmRSS")
    answer = _send_chunked(api, f"/api/v1/schemas/upload/big_{uuid.uuid4().hex[:6]}", token,
                           "application/json", total=60 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"TYPECHECK_MAX_SCHEMA_BYTES" in answer
    # A 60 MB body is never held: the server's peak grows by far less than the body.
    assert _memory(own.server.pid) - before < 30 * 1024 * 1024
    login = api.client.post("/login/access-token", files={"username": (None, "x" * (1024 * 1024)),
                                                          "password": (None, "y")})
    assert login.status_code == 413


def _send_chunked(api: Api, path: str, token: str, content_type: str, total: int) -> bytes:
    """POST ``total`` bytes of spaces, chunked, until the server answers; return its answer."""
    host, port = api.base_url.removeprefix("http://").split(":")
    chunk = b" " * 65536
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        sent, answer = 0, b""
        sock.settimeout(0.05)
        try:
            while sent < total and not answer:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                try:
                    answer = sock.recv(65536)
                except TimeoutError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(30)
        while b"}" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert sent < total, "the whole body was read before any answer"
    return answer


def _multipart(file_header: bytes, content: bytes = b"id\n1\n") -> tuple[bytes, str]:
    boundary = "secboundary"
    body = (f"--{boundary}\r\n".encode() + file_header + b"\r\n\r\n" + content
            + f"\r\n--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("part_header", "detail"),
    [
        (b'Content-Disposition: form-data; name="spreadsheet_file"; filename="' + b"a" * 5000 + b'.csv"',
         "the multipart body is malformed: Maximum header size exceeded"),
        (b'Content-Disposition: form-data; name="spreadsheet_file"; filename="' + b"a" * 300 + b'.csv"',
         "the file name is longer than 255 characters"),
        (b'Content-Disposition: form-data; name="spreadsheet_file"; filename="a.csv"\r\nX-Bad: one\rtwo',
         "the multipart body is malformed"),
    ],
)
def test_malformed_multipart_is_400(own: Own, part_header: bytes, detail: str) -> None:
    api = own.api
    token = api.token()
    import_name = f"mp_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{import_name}", json=ID_SCHEMA,
                           headers=api.auth(token)).status_code == 201
    body, content_type = _multipart(part_header)
    response = api.client.post(f"/validation/upload/{import_name}", content=body,
                               headers={**api.auth(token), "Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)


def test_control_characters_in_a_file_name_reach_the_log_escaped(own: Own) -> None:
    api = own.api
    token = api.token()
    import_name = f"log_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{import_name}", json=ID_SCHEMA,
                           headers=api.auth(token)).status_code == 201
    name = b"evil\x1b[31mRED\x00\nFORGED LINE.csv"
    body, content_type = _multipart(b'Content-Disposition: form-data; name="spreadsheet_file"; filename="'
                                    + name.replace(b"\n", b"") + b'"')
    response = api.client.post(f"/validation/upload/{import_name}", content=body,
                               headers={**api.auth(token), "Content-Type": content_type})
    assert response.status_code == 202, response.text
    wait_finished(api, token, response.json()["task_id"])
    log = (own.logs / "worker.log").read_bytes()
    line = next(line for line in log.splitlines() if response.json()["task_id"].encode() in line
                and b"validating" in line)
    assert b"\x1b" not in log and b"\x00" not in log
    assert b"evil\\x1b[31mRED\\x00FORGED LINE.csv" in line


def test_the_api_describes_itself_from_here_and_not_at_all_when_switched_off(
    own: Own, api_env: dict[str, str], tmp_path: Path
) -> None:
    api = own.api
    assert api.client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    document = api.client.get("/openapi.json")
    assert document.status_code == 200 and "cdn" not in document.text.lower()
    port = free_port()
    # No docs, and a RabbitMQ that is not there: the healthcheck has a detail to hide.
    env = {**api_env, "TYPECHECK_API_DOCS": "false", "AIRFLOW_CONN_RABBITMQ_DEFAULT": "amqp://guest:guest@127.0.0.1:1/"}
    server = start_cli(["api", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "api.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/healthcheck/simple", server, tmp_path / "api.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            quiet = Api(base_url=f"http://127.0.0.1:{port}", client=client, env=env)
            assert client.get("/openapi.json").status_code == 404
            admin = quiet.token()
            username, password = f"user_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
            made = client.post("/users/create", json={"username": username, "password": password, "rol": "user"},
                               headers=quiet.auth(admin))
            assert made.status_code in (200, 201), made.text
            as_admin = client.get("/healthcheck", headers=quiet.auth(admin)).json()
            as_user = client.get("/healthcheck", headers=quiet.auth(quiet.token(username, password))).json()
    finally:
        stop_process(server)
    assert as_admin["services"]["rabbitmq"]["status"] == "down" and as_admin["services"]["rabbitmq"]["detail"]
    assert as_user["services"]["rabbitmq"] == {**as_admin["services"]["rabbitmq"], "detail": None,
                                               "latency_ms": as_user["services"]["rabbitmq"]["latency_ms"]}
    assert "127.0.0.1" not in json.dumps(as_user)
