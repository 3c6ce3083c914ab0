"""The plugin's pages in a real ``airflow api-server``, with Airflow's auth manager deciding who sees what.

The server runs ``OneDagPerUserAuthManager`` (``tests/integration/airflow_auth.py``):
Airflow's simple auth manager where ``alice`` may read only ``dag_a`` and ``bob`` only
``dag_b``, and ``root`` is an admin. Validations are real: queued with
``publish_validation`` (with the Airflow task instance that would submit them, or none,
as the REST API does) and run by a real ``typecheck worker``. Users log in through
Airflow's own ``/auth/token`` and call the pages with Airflow's JWT.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.api_support import USERS_SCHEMA, airflow_api_server

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}
RUN_ID = "manual__2026-01-01T00:00:00+00:00"
USERS_CSV = (ROOT / "examples" / "users.csv").read_text()


@dataclass
class Validations:
    users: str  # import names
    orders: str
    dag_a: str  # validation ids: users.csv (invalid) from dag_a
    dag_b: str  # users.csv from dag_b
    rest: str  # users.csv from the REST API (no DAG)
    dag_a_valid: str  # a valid file of `orders` from dag_a, mapped index 2


@pytest.fixture(scope="module")
def airflow_server(api_env: dict[str, str], worker: subprocess.Popen, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[str]:
    home = tmp_path_factory.mktemp("plugin_pages_home")
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    env = {
        **api_env,
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.integration.airflow_auth.OneDagPerUserAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "alice:viewer,bob:viewer,root:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with airflow_api_server(home, env) as base:
        yield base


@pytest.fixture(scope="module")
def validations(api_env: dict[str, str], worker: subprocess.Popen, tmp_path_factory: pytest.TempPathFactory
                ) -> Validations:
    from airflow_provider_typecheck.services import Services
    from airflow_provider_typecheck.settings import TypecheckSettings

    services = Services(TypecheckSettings())  # the session's TYPECHECK_* (api_env)
    unique = uuid.uuid4().hex[:8]
    users, orders = f"plugin_users_{unique}", f"plugin_orders_{unique}"
    for name in (users, orders):
        services.schemas.put(name, USERS_SCHEMA, new_version=True, actor="test")
    folder = tmp_path_factory.mktemp("plugin_files")
    invalid = folder / "users.csv"
    invalid.write_text(USERS_CSV)
    valid = folder / "clean.csv"
    valid.write_text("name,email,age\nAda,ada@example.com,36\n")

    def from_dag(dag_id: str, map_index: int = -1) -> dict:
        # What SpreadsheetValidateOperator records of its task instance.
        return {"dag_id": dag_id, "task_id": "validate", "run_id": RUN_ID, "map_index": map_index}

    def publish(import_name: str, file: Path, airflow: dict | None) -> str:
        return services.publish_validation(import_name, file.as_uri(), airflow=airflow).task_id

    try:
        ids = Validations(
            users=users, orders=orders,
            dag_a=publish(users, invalid, from_dag("dag_a")),
            dag_b=publish(users, invalid, from_dag("dag_b")),
            rest=publish(users, invalid, None),
            dag_a_valid=publish(orders, valid, from_dag("dag_a", map_index=2)),
        )
        deadline = time.monotonic() + 120
        for task_id in (ids.dag_a, ids.dag_b, ids.rest, ids.dag_a_valid):
            while not services.tasks.get(task_id).state.finished:
                assert time.monotonic() < deadline, f"validation {task_id} did not finish"
                time.sleep(0.1)
        assert services.tasks.get(ids.dag_a_valid).state.value == "valid"
        assert services.tasks.get(ids.dag_a).state.value == "invalid"
    finally:
        services.close()
    return ids


def _login(base: str, username: str) -> httpx.Client:
    token = httpx.post(f"{base}/auth/token", json={"username": username, "password": PASSWORDS[username]}, timeout=30)
    assert token.status_code in (200, 201), token.text
    return httpx.Client(base_url=f"{base}/typecheck/ui", timeout=30,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})


@pytest.fixture(scope="module")
def alice(airflow_server: str) -> Iterator[httpx.Client]:
    with _login(airflow_server, "alice") as client:
        yield client


@pytest.fixture(scope="module")
def root(airflow_server: str) -> Iterator[httpx.Client]:
    with _login(airflow_server, "root") as client:
        yield client


def _listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return re.findall(r'data-validation="([^"]+)"', page.text)


def test_the_list_shows_each_user_the_validations_of_the_dags_they_read(alice, root, validations) -> None:
    v = validations
    mine = _listed(alice.get("/validations"))
    assert v.dag_a in mine and v.dag_a_valid in mine
    assert v.dag_b not in mine and v.rest not in mine
    everything = _listed(root.get("/validations"))
    assert {v.dag_a, v.dag_b, v.rest, v.dag_a_valid} <= set(everything)
    # Newest first: the order they were queued in, reversed.
    assert [i for i in everything if i in {v.dag_a, v.dag_b, v.rest, v.dag_a_valid}] == \
        [v.dag_a_valid, v.rest, v.dag_b, v.dag_a]


def test_a_dag_id_in_the_request_changes_nothing(alice, validations) -> None:
    v = validations
    for path in (f"/validations/{v.dag_b}", f"/validations/{v.dag_b}/report.json", f"/validations/{v.dag_b}/invalid.csv",
                 f"/validations/{v.rest}", f"/validations/{v.rest}/report.json"):
        refused = alice.get(path, params={"dag_id": "dag_a"})
        assert refused.status_code == 404, (path, refused.text)
    assert v.dag_b not in _listed(alice.get("/validations", params={"dag_id": "dag_a"}))


def test_forbidden_and_unknown_answer_alike(alice, validations) -> None:
    forbidden = alice.get(f"/validations/{validations.dag_b}/report.json")
    unknown_id = uuid.uuid4().hex
    unknown = alice.get(f"/validations/{unknown_id}/report.json")
    assert (forbidden.status_code, unknown.status_code) == (404, 404)
    assert forbidden.json()["detail"].replace(validations.dag_b, "ID") == unknown.json()["detail"].replace(unknown_id, "ID")


def test_reports_of_a_readable_dag_and_of_rest_for_admins(alice, root, validations) -> None:
    v = validations
    page = alice.get(f"/validations/{v.dag_a}")
    assert page.status_code == 200 and "users.csv" in page.text
    report = alice.get(f"/validations/{v.dag_a}/report.json").json()
    assert report["total_rows"] == 10 and report["invalid_rows"] > 0
    # The same file, from the REST API: the same report, for an admin.
    assert root.get(f"/validations/{v.rest}/report.json").json()["invalid_rows"] == report["invalid_rows"]
    assert root.get(f"/validations/{v.dag_b}").status_code == 200


def test_each_airflow_validation_links_to_its_dag_run_and_task_instance(alice, root, validations) -> None:
    v = validations
    page = alice.get("/validations", params={"import_name": v.orders})
    run = f"/dags/dag_a/runs/{quote(RUN_ID, safe='')}"
    row = re.search(rf'<tr data-validation="{v.dag_a_valid}">(.*?)</tr>', page.text, re.S).group(1)
    assert f'href="{run}" target="_top"' in row
    assert f'href="{run}/tasks/validate/mapped/2" target="_top"' in row
    rest_row = re.search(rf'<tr data-validation="{v.rest}">(.*?)</tr>', root.get("/validations").text, re.S).group(1)
    assert "REST API" in rest_row and "/dags/" not in rest_row


def test_filters_by_import_and_state(alice, root, validations) -> None:
    v = validations
    assert _listed(alice.get("/validations", params={"import_name": v.users})) == [v.dag_a]
    assert _listed(root.get("/validations", params={"import_name": v.users, "state": "invalid"})) == \
        [v.rest, v.dag_b, v.dag_a]
    valid = _listed(alice.get("/validations", params={"state": "valid"}))
    assert v.dag_a_valid in valid and v.dag_a not in valid
    assert _listed(root.get("/validations", params={"import_name": v.orders, "state": "failed"})) == []
    # Bad filters are a 422, not a 500.
    assert alice.get("/validations", params={"state": "bogus"}).status_code == 422
    assert alice.get("/validations", params={"import_name": "../x"}).status_code == 422


def test_the_list_runs_no_script_and_its_filter_form_submits_to_itself(alice, validations) -> None:
    page = alice.get("/validations")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy and "frame-ancestors 'self'" in policy
    assert "<script" not in page.text and '<form method="get" action="/typecheck/ui/validations">' in page.text


def test_pages_through_the_list(root, validations) -> None:
    v = validations
    seen, url, pages = [], "/validations", 0
    params: dict | None = {"import_name": v.users, "per_page": 1}
    while url:
        page = root.get(url, params=params)
        ids = _listed(page)
        assert len(ids) <= 1
        seen += ids
        pages += 1
        found = re.search(r'<a href="/typecheck/ui(/validations\?[^"]+)" rel="next">', page.text)
        url, params = (found.group(1).replace("&amp;", "&"), None) if found else ("", None)
    assert seen == [v.rest, v.dag_b, v.dag_a] and pages == 3
    assert 'rel="prev"' in root.get("/validations", params={"import_name": v.users, "per_page": 1, "page": 2}).text


def test_the_pages_need_an_airflow_login(airflow_server, validations) -> None:
    for path in ("/validations", f"/validations/{validations.dag_a}/report.json"):
        assert httpx.get(f"{airflow_server}/typecheck/ui{path}", timeout=30).status_code in (401, 403)
