"""Fixtures of the ``test_api_*`` modules: one real ``typecheck api`` server and worker per session.

Everything lives in names of its own: the session's PostgreSQL schema (users and the
schema registry), a Redis key prefix for the session (its keys deleted at the end), the
session's RabbitMQ virtual host, and a temporary folder as the file store. The server
is ``typecheck api`` itself, on a free port of 127.0.0.1, and the worker ``typecheck worker``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import POSTGRES_URI, RABBITMQ_HOST, REDIS_URI

ADMIN = "root-admin"
ADMIN_PASSWORD = "a-long-admin-password"
JWT_SECRET = secrets.token_urlsafe(32)
USERS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0},
    },
    "required": ["name", "email"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@dataclass
class Api:
    """A running server: ``client`` is an httpx client on its ``/api/v1`` base URL."""

    base_url: str
    client: httpx.Client
    env: dict[str, str]

    def token(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
        response = self.client.post("/login/access-token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def api_env(pg_session_schema: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment shared by the session's API server, worker and this process's stores.

    The virtual host is the API's own, not the session's: its worker lives to the end of
    the session and would otherwise take the jobs other modules publish.
    """
    prefix = f"typecheck-test:{uuid.uuid4().hex}:"
    rabbitmq_vhost = f"typecheck_api_{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", rabbitmq_vhost)
    rabbitmqctl("set_permissions", "-p", rabbitmq_vhost, "guest", ".*", ".*", ".*")
    env = {
        "AIRFLOW_CONN_POSTGRES_DEFAULT": POSTGRES_URI,
        "AIRFLOW_CONN_REDIS_DEFAULT": REDIS_URI,
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@{RABBITMQ_HOST}/{rabbitmq_vhost}",
        "TYPECHECK_SCHEMA_STORE": "postgres",
        "TYPECHECK_POSTGRES_SCHEMA": pg_session_schema,
        "TYPECHECK_REDIS_PREFIX": prefix,
        "TYPECHECK_STORAGE_URI": (tmp_path_factory.mktemp("api_store")).as_uri(),
        "TYPECHECK_JWT_SECRET": JWT_SECRET,
        "TYPECHECK_FIRST_ADMIN_USERNAME": ADMIN,
        "TYPECHECK_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TYPECHECK_MAX_UPLOAD_BYTES": str(256 * 1024),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield env
    rabbitmqctl("delete_vhost", rabbitmq_vhost)
    from airflow.providers.redis.hooks.redis import RedisHook

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_REDIS_DEFAULT", REDIS_URI)
        client = RedisHook(redis_conn_id="redis_default").get_conn()
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_typecheck.cli", *args],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="session")
def worker(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    """A real ``typecheck worker`` consuming the session's virtual host."""
    log = tmp_path_factory.mktemp("api_worker") / "worker.log"
    process = start_cli(["worker"], api_env, log)
    deadline = time.monotonic() + 60
    while "consuming typecheck.validation" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            pytest.fail(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield process
    stop_process(process)


@pytest.fixture(scope="session")
def api(api_env: dict[str, str], worker: subprocess.Popen, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """``typecheck api`` on a free port of 127.0.0.1, with a worker behind it."""
    with served_api(api_env, tmp_path_factory.mktemp("api_server") / "api.log") as served:
        yield served


@contextmanager
def served_api(env: dict[str, str], log: Path) -> Iterator[Api]:
    """``typecheck api`` with ``env`` on a free port of 127.0.0.1, its output in ``log``; stopped on exit."""
    port = free_port()
    process = start_cli(["api", "--host", "127.0.0.1", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/healthcheck/simple", process, log)
        with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
            yield Api(base_url=base, client=client, env=env)
    finally:
        stop_process(process)


def wait_finished(api: Api, token: str, task_id: str, timeout: float = 60) -> dict:
    """Poll a task's status until it is valid, invalid or failed; return the last status."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get("/validation/status", params={"task_id": task_id}, headers=api.auth(token))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["state"] in ("valid", "invalid", "failed"):
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"task {task_id} still {body['state']} after {timeout} s")
        time.sleep(0.1)


USER_PASSWORD = "tangerine-cobalt-41"  # strong enough for the password check (zxcvbn score 4)


def new_user(api: Api, prefix: str = "user") -> tuple[str, dict[str, str]]:
    """A new ordinary account (made by the admin over HTTP): its name and its auth headers."""
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    made = api.client.post("/users/create", json={"username": username, "password": USER_PASSWORD},
                           headers=api.auth(api.token()))
    assert made.status_code == 201, made.text
    return username, api.auth(api.token(username, USER_PASSWORD))


@contextmanager
def airflow_api_server(home: Path, env: dict[str, str], ready_path: str = "/api/v2/monitor/health") -> Iterator[str]:
    """A real ``airflow api-server`` (core apps, the plugin by entry point) on a free port; yields its base URL.

    Its own ``AIRFLOW_HOME`` (``home``) with a migrated SQLite metadata database; ``env``
    comes on top of this process's environment (the TYPECHECK_* of the session, an auth
    manager, ...).
    """
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout.decode()[-2000:] + migrate.stderr.decode()[-2000:]
    port = free_port()
    log = home / "api-server.log"
    process = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--apps", "core"],
                               env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + ready_path, process, log, timeout=180)
        yield base
    finally:
        stop_process(process)
