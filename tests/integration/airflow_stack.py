"""A real Airflow 3 for tests: scheduler, triggerer, dag-processor and api-server as separate processes.

Everything is the test's own: an ``AIRFLOW_HOME`` in a temporary folder, a PostgreSQL
database created for it (dropped at the end), the LocalExecutor, free ports, and the
caller's RabbitMQ virtual host, Redis prefix and PostgreSQL schema for the typecheck
side. The REST API v2 is reached with a token of Airflow's simple auth manager for a
user whose password the stack writes itself.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api_support import free_port
from tests.integration.conftest import POSTGRES_URI
from tests.integration.jobs_support import wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN, ADMIN_PASSWORD = "admin", "admin-" + secrets.token_urlsafe(12)
FINISHED_RUN_STATES = frozenset({"success", "failed"})
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _admin_connection() -> Any:
    import psycopg2

    connection = psycopg2.connect(POSTGRES_URI)
    connection.autocommit = True
    return connection


class AirflowStack:
    """The four Airflow components and a ``typecheck worker``, started and stopped together."""

    def __init__(self, home: Path, typecheck_env: dict[str, str]) -> None:
        self.home = home
        self.database = f"airflow_test_{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[Any] = []
        self._token: str | None = None
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({ADMIN: ADMIN_PASSWORD}))
        database_uri = POSTGRES_URI.replace("postgresql://", "postgresql+psycopg2://", 1).rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            **typecheck_env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{database_uri}/{self.database}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "PYTHONUNBUFFERED": "1",
        }

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        with closing(_admin_connection()) as connection, connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.database}"')
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env,
                                 capture_output=True, text=True, timeout=600)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        (self.home / "plugins").mkdir(exist_ok=True)
        self._spawn("api-server", [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1",
                                   "--port", str(self.port), "--workers", "1"])
        for component in ("scheduler", "dag-processor", "triggerer"):
            self._spawn(component, [sys.executable, "-m", "airflow", component])
        self._spawn("worker", [sys.executable, "-m", "airflow_provider_typecheck.cli", "worker"])
        wait_for(self._api_up, timeout=300, what="the api-server", detail=lambda: self.tail("api-server"))
        wait_for(lambda: "consuming typecheck.validation" in self.log("worker"), timeout=120,
                   what="the typecheck worker", detail=lambda: self.tail("worker"))

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(out)
        self.processes[name] = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def stop(self) -> None:
        """Stop every process this stack started (each its own process group), then drop the database."""
        import signal

        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(10)
        for out in self._logs:
            out.close()
        with closing(_admin_connection()) as connection, connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def _api_up(self) -> bool:
        self._check_alive()
        try:
            return httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def tail(self, name: str, chars: int = 4000) -> str:
        return f"--- {name} ---\n{self.log(name)[-chars:]}"

    def tails(self) -> str:
        return "\n".join(self.tail(name, 2500) for name in self.processes)

    # --- REST API v2 -----------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            response = httpx.post(f"{self.base_url}/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD},
                                  timeout=30)
            assert response.status_code == 201, response.text
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.base_url}/api/v2{path}", timeout=60,
                                 headers={"Authorization": f"Bearer {self.token()}"}, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def wait_dags(self, dag_ids: set[str], timeout: float = 300) -> None:
        def parsed() -> bool:
            self._check_alive()
            errors = self.request("GET", "/importErrors")["import_errors"]
            assert not errors, errors
            found = {dag["dag_id"] for dag in self.request("GET", "/dags", params={"limit": 100})["dags"]}
            return dag_ids <= found

        wait_for(parsed, timeout=timeout, what=f"the DAGs {sorted(dag_ids)} to be parsed", interval=1,
                   detail=lambda: self.tail("dag-processor"))

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            self._check_alive()
            run = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in FINISHED_RUN_STATES else None

        return wait_for(finished, timeout=timeout, what=f"run {run_id} of {dag_id} to finish", interval=1,
                          detail=self.tails)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            params={"limit": 100})["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        entry = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                             params={"map_index": map_index, "deserialize": True, "stringify": False})
        return entry["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        body = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                            params={"map_index": map_index, "full_content": True})
        content = body["content"]
        if not isinstance(content, list):
            return str(content)
        # Structured lines: the event, then its other fields (a trigger's event is in "result").
        lines = []
        for item in content:
            if isinstance(item, dict):
                fields = {k: v for k, v in item.items() if k not in ("event", "timestamp")}
                lines.append(f"{item.get('event', '')} {json.dumps(fields, default=str)}" if fields else
                             str(item.get("event", "")))
            else:
                lines.append(str(item))
        return "\n".join(lines)
