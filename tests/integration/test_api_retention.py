"""Files live as long as their task, and a user's uploads are bounded: over HTTP, the CLI and a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fsspec.core import url_to_fs

from tests.integration.api_support import (
    USERS_SCHEMA,
    Api,
    new_user,
    served_api,
    start_cli,
    stop_process,
    wait_finished,
)

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

ROWS = b"name,email,age\nAda,ada@example.com,36\nBob,not-an-email,-1\n"


def _user(api: Api) -> dict[str, str]:
    return new_user(api, "ret")[1]


def _redis(api: Api):  # noqa: ANN202 - a redis.Redis
    from redis import Redis

    from tests.integration.conftest import REDIS_URI

    return Redis.from_url(REDIS_URI)


def _store(api: Api) -> Path:
    return Path(url_to_fs(api.env["TYPECHECK_STORAGE_URI"])[1])


@pytest.fixture(scope="module")
def import_name(api: Api) -> str:
    name = f"ret_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA,
                           headers=api.auth(api.token())).status_code == 201
    return name


def _validated(api: Api, import_name: str, headers: dict[str, str]) -> dict[str, object]:
    """A finished invalid validation: its id and the files it left in the store."""
    file_name = f"rows-{uuid.uuid4().hex[:8]}.csv"
    queued = api.client.post(f"/validation/upload/{import_name}", headers=headers,
                             files={"spreadsheet_file": (file_name, ROWS)})
    assert queued.status_code == 202, queued.text
    task_id = queued.json()["task_id"]
    assert wait_finished(api, headers["Authorization"].split()[1], task_id)["state"] == "invalid"
    store = _store(api)
    files = [store / "reports" / f"{task_id}.json", store / "reports" / f"{task_id}.invalid.csv",
             *(store / "uploads").glob(f"*/{file_name}")]
    assert len(files) == 3 and all(f.exists() for f in files), files
    return {"task_id": task_id, "files": files}


def _expire(api: Api, task_id: str) -> None:
    # What the status's TTL does after TYPECHECK_TASK_TTL_SECONDS, without waiting a week.
    assert _redis(api).delete(f"{api.env['TYPECHECK_REDIS_PREFIX']}task:{task_id}") == 1


def _sweep(api: Api, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "sweep", *args],
                          env={**os.environ, **api.env}, capture_output=True, text=True, timeout=120)


def test_typecheck_sweep_deletes_the_files_of_expired_tasks_only(api: Api, import_name: str) -> None:
    owner = _user(api)
    expired, live = _validated(api, import_name, owner), _validated(api, import_name, owner)
    _expire(api, expired["task_id"])

    dry = _sweep(api, "--grace-seconds", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete") and all(f.exists() for f in expired["files"])

    swept = _sweep(api, "--grace-seconds", "0")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.startswith("deleted ")
    assert not any(f.exists() for f in expired["files"])
    assert all(f.exists() for f in live["files"])
    report = api.client.get(f"/validation/report/{live['task_id']}", params={"format": "csv"}, headers=owner)
    assert report.status_code == 200 and "not-an-email" in report.text

    # Within the grace period nothing goes, expired or not.
    kept = _validated(api, import_name, owner)
    _expire(api, kept["task_id"])
    assert _sweep(api).returncode == 0  # default grace: an hour
    assert all(f.exists() for f in kept["files"])


def test_typecheck_sweep_refuses_a_negative_grace(api: Api) -> None:
    refused = _sweep(api, "--grace-seconds", "-1")
    assert refused.returncode == 2 and refused.stderr.startswith("typecheck: error: --grace-seconds")


def test_a_worker_sweeps_periodically(api: Api, import_name: str, tmp_path: Path) -> None:
    owner = _user(api)
    doomed = _validated(api, import_name, owner)
    _expire(api, doomed["task_id"])
    env = {**api.env, "TYPECHECK_SWEEP_INTERVAL_SECONDS": "0.5", "TYPECHECK_SWEEP_GRACE_SECONDS": "0"}
    sweeper = start_cli(["worker"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 90
        while any(f.exists() for f in doomed["files"]) and time.monotonic() < deadline:
            assert sweeper.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
    finally:
        stop_process(sweeper)
    assert not any(f.exists() for f in doomed["files"]), (tmp_path / "worker.log").read_text()[-2000:]


@pytest.fixture(scope="module")
def quota_api(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A second ``typecheck api`` on the same services, with a tiny per-user quota."""
    env = {**api.env, "TYPECHECK_USER_QUOTA_BYTES": str(len(ROWS) * 2 + len(ROWS) // 2)}
    with served_api(env, tmp_path_factory.mktemp("quota_api") / "api.log") as served:
        yield served


def test_a_users_uploads_are_bounded_by_their_quota(quota_api: Api, import_name: str) -> None:
    api = quota_api
    hoarder, neighbour = _user(api), _user(api)

    def upload(headers: dict[str, str]) -> httpx.Response:
        return api.client.post(f"/validation/upload/{import_name}", headers=headers,
                               files={"spreadsheet_file": ("rows.csv", ROWS)})

    first, second = upload(hoarder), upload(hoarder)
    assert (first.status_code, second.status_code) == (202, 202)
    refused = upload(hoarder)
    assert refused.status_code == 507, refused.text
    assert "TYPECHECK_USER_QUOTA_BYTES" in refused.json()["detail"]
    assert upload(neighbour).status_code == 202  # a quota is per user
    # Once a task expires its bytes no longer count.
    assert wait_finished(api, hoarder["Authorization"].split()[1], first.json()["task_id"])["state"] == "invalid"
    _expire(api, first.json()["task_id"])
    assert upload(hoarder).status_code == 202
