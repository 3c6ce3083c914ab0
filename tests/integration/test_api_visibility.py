"""Each user sees only their own validations, tried over HTTP as another ordinary account would."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.api_support import USERS_SCHEMA, Api, new_user, wait_finished

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

BAD_CSV = b"name,email,age\nAda,ada@example.com,36\nBob,not-an-email,-1\n"


def _user(api: Api) -> dict[str, str]:
    return new_user(api, "vis")[1]


@pytest.fixture(scope="module")
def victims_task(api: Api) -> dict[str, str]:
    """A finished, invalid validation of one ordinary user (report, rows and all)."""
    import_name = f"vis_{uuid.uuid4().hex[:8]}"
    admin = api.auth(api.token())
    assert api.client.post(f"/schemas/upload/{import_name}", json=USERS_SCHEMA, headers=admin).status_code == 201
    victim = _user(api)
    queued = api.client.post(f"/validation/upload/{import_name}", headers=victim,
                             files={"spreadsheet_file": ("payroll.csv", BAD_CSV)})
    assert queued.status_code == 202, queued.text
    task_id = queued.json()["task_id"]
    assert wait_finished(api, victim["Authorization"].split()[1], task_id)["state"] == "invalid"
    return {"import_name": import_name, "task_id": task_id, **victim}


def _reads(api: Api, task_id: str, import_name: str, headers: dict[str, str]) -> dict[str, object]:
    get = api.client.get
    return {
        "status": get("/validation/status", params={"task_id": task_id}, headers=headers),
        "json": get(f"/validation/report/{task_id}", params={"format": "json"}, headers=headers),
        "csv": get(f"/validation/report/{task_id}", params={"format": "csv"}, headers=headers),
        "html": get(f"/validation/report/{task_id}", params={"format": "html"}, headers=headers),
        "list": get("/validation/status", params={"import_name": import_name}, headers=headers),
    }


def test_another_user_cannot_read_a_validation_nor_tell_it_exists(api: Api, victims_task: dict[str, str]) -> None:
    attacker = _user(api)
    task_id, import_name = victims_task["task_id"], victims_task["import_name"]
    stolen = _reads(api, task_id, import_name, attacker)
    unknown_id = str(uuid.uuid4())
    unknown = _reads(api, unknown_id, import_name, attacker)
    for what in ("status", "json", "csv", "html"):
        assert stolen[what].status_code == 404, (what, stolen[what].text)
        # The same answer as for a task that does not exist: no oracle.
        assert stolen[what].json() == {"detail": f"no task {task_id!r}"}
        assert unknown[what].json() == {"detail": f"no task {unknown_id!r}"}
    assert stolen["list"].status_code == 200
    assert stolen["list"].json() == {"data": [], "count": 0}
    assert "Ada" not in str({k: r.text for k, r in stolen.items()})


def test_the_submitter_and_admins_read_it_all(api: Api, victims_task: dict[str, str]) -> None:
    task_id, import_name = victims_task["task_id"], victims_task["import_name"]
    victim = {"Authorization": victims_task["Authorization"]}
    for headers in (victim, api.auth(api.token())):
        reads = _reads(api, task_id, import_name, headers)
        assert {what: r.status_code for what, r in reads.items()} == dict.fromkeys(reads, 200)
        assert "not-an-email" in reads["csv"].text
        assert reads["json"].json()["invalid_rows"] == 1
        listed = reads["list"].json()
        assert listed["count"] == 1 and [t["task_id"] for t in listed["data"]] == [task_id]


def test_a_users_list_holds_only_their_own_tasks(api: Api, victims_task: dict[str, str]) -> None:
    import_name = victims_task["import_name"]
    other = _user(api)
    mine = api.client.post(f"/validation/upload/{import_name}", headers=other,
                           files={"spreadsheet_file": ("mine.csv", BAD_CSV)}).json()["task_id"]
    listed = api.client.get("/validation/status", params={"import_name": import_name}, headers=other).json()
    assert [t["task_id"] for t in listed["data"]] == [mine] and listed["count"] == 1
    everyone = api.client.get("/validation/status", params={"import_name": import_name},
                              headers=api.auth(api.token())).json()
    assert {t["task_id"] for t in everyone["data"]} == {mine, victims_task["task_id"]}
