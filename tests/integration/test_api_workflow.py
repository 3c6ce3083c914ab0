"""The seed README's curl workflow, through HTTP, against ``typecheck api`` and a real worker."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from tests.integration.api_support import ADMIN, USERS_SCHEMA, Api, wait_finished

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

USERS_CSV = b"name,email,age\nJohn Doe,john@example.com,30\nJane Smith,jane@example.com,25\n"
BAD_CSV = b"name,email,age\nJohn Doe,john@example.com,30\nNo Mail,,-4\nJane,jane@example.com,old\n"


def test_the_seed_workflow_end_to_end(api: Api) -> None:
    seed_workflow(api)


def seed_workflow(api: Api) -> None:
    """The seed README's steps, in order, against a server (standalone or mounted in Airflow)."""
    name = f"user_data_{uuid.uuid4().hex[:8]}"
    # 1. log in (the seed also sends rol=admin: ignored)
    login = api.client.post("/login/access-token", data={"username": ADMIN, "password": "a-long-admin-password",
                                                          "rol": "admin"})
    assert login.status_code == 200 and login.json()["token_type"] == "bearer"
    auth = api.auth(login.json()["access_token"])
    me = api.client.get("/login/test-token", headers=auth).json()
    assert (me["username"], me["rol"], me["is_active"]) == (ADMIN, "admin", True)
    assert "password" not in str(me) and "hash" not in str(me)

    # 2. upload the schema; the same body again is "unchanged" (200, no new version)
    created = api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json() == {"import_name": name, "version": 1, "status": "created"}
    again = api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=auth)
    assert (again.status_code, again.json()["status"], again.json()["version"]) == (200, "unchanged", 1)
    assert api.client.get(f"/schemas/{name}", headers=auth).json() == USERS_SCHEMA

    # 3. validate a CSV file
    upload = api.client.post(f"/validation/upload/{name}", files={"spreadsheet_file": ("users.csv", USERS_CSV)},
                             headers=auth)
    assert upload.status_code == 202, upload.text
    accepted = upload.json()
    assert (accepted["state"], accepted["import_name"], accepted["schema_version"]) == ("queued", name, 1)

    # 4. status by task id and by import name
    done = wait_finished(api, auth["Authorization"].split()[1], accepted["task_id"])
    assert done["state"] == "valid", done
    assert done["summary"] == {"total_rows": 2, "valid_rows": 2, "invalid_rows": 0, "errors_by_column": {}}
    assert done["progress"]["rows_done"] == 2 and done["errors"] == [] and done["error"] is None
    listed = api.client.get("/validation/status", params={"import_name": name}, headers=auth).json()
    assert listed["count"] == 1 and listed["data"][0]["task_id"] == accepted["task_id"]

    # 5. a new version takes effect for the very next upload
    strict = {**USERS_SCHEMA, "properties": {**USERS_SCHEMA["properties"], "age": {"type": "integer", "maximum": 26}}}
    new = api.client.post(f"/schemas/upload/{name}", params={"new": "true"}, json=strict, headers=auth)
    assert (new.status_code, new.json()) == (201, {"import_name": name, "version": 2, "status": "new_version"})
    second = api.client.post(f"/validation/upload/{name}", files={"spreadsheet_file": ("users.csv", USERS_CSV)},
                             headers=auth)
    assert second.status_code == 202, second.text
    second = second.json()
    assert second["schema_version"] == 2
    judged = wait_finished(api, auth["Authorization"].split()[1], second["task_id"])
    assert judged["state"] == "invalid"
    assert judged["summary"]["errors_by_column"] == {"age": {"maximum": 1}}
    assert [(e["row"], e["column"], e["keyword"]) for e in judged["errors"]] == [(2, "age", "maximum")]
    # report_uri is where this server serves the report, under whatever prefix it is mounted at
    served = api.client.get(api.base_url + judged["report_uri"], headers=auth)
    assert served.status_code == 200 and served.json()["invalid_rows"] == 1
    status = api.client.get("/schemas/status", params={"import_name": name}, headers=auth).json()
    assert status["active_version"] == 2 and [v["version"] for v in status["versions"]] == [1, 2]
    assert status["versions"][0]["created_by"] == ADMIN

    # 6. roll back: version 1 is active again, at once
    rolled = api.client.delete(f"/schemas/remove/{name}", headers=auth).json()
    assert rolled == {"import_name": name, "status": "rolled_back", "active_version": 1}
    third = api.client.post(f"/validation/upload/{name}", files={"spreadsheet_file": ("users.csv", USERS_CSV)},
                            headers=auth)
    assert third.status_code == 202, third.text
    third = third.json()
    assert third["schema_version"] == 1
    assert wait_finished(api, auth["Authorization"].split()[1], third["task_id"])["state"] == "valid"
    listed = api.client.get("/validation/status", params={"import_name": name, "limit": 2}, headers=auth).json()
    assert listed["count"] == 3 and [t["task_id"] for t in listed["data"]] == [third["task_id"], second["task_id"]]

    # 7. users
    username = f"newuser-{uuid.uuid4().hex[:6]}"
    made = api.client.post("/users/create", json={"username": username, "password": "tangerine-cobalt-41", "rol": "user",
                                                   "is_active": True}, headers=auth)
    assert made.status_code == 201 and made.json()["rol"] == "user"
    assert api.client.post("/users/create", json={"username": username.upper(), "password": "tangerine-cobalt-41"},
                           headers=auth).status_code == 409
    assert api.client.get(f"/users/search/{username}", headers=auth).json()["username"] == username
    page = api.client.get("/users/search", params={"limit": 100}, headers=auth).json()
    assert page["count"] >= 2 and username in [u["username"] for u in page["data"]]
    user_auth = api.auth(api.token(username, "tangerine-cobalt-41"))
    assert api.client.get("/users/info", headers=user_auth).json()["username"] == username
    changed = api.client.patch(f"/users/update/{username}", headers=user_auth,
                               json={"password": "violet-harbour-87", "current_password": "tangerine-cobalt-41"})
    assert changed.status_code == 200
    # A new password retires the tokens issued before it
    assert api.client.get("/users/info", headers=user_auth).status_code == 401
    user_auth = api.auth(api.token(username, "violet-harbour-87"))
    assert api.client.patch(f"/users/update/{username}", json={"rol": "admin"}, headers=user_auth).status_code == 403
    assert api.client.delete(f"/users/delete/{username}", headers=auth).status_code == 204
    assert api.client.get(f"/users/search/{username}", headers=auth).status_code == 404

    # 8. cache: the active schema was cached by the uploads; clearing never touches task status
    stats = api.client.get("/cache", headers=auth).json()
    assert stats["keys"] >= 1 and stats["hits"] + stats["misses"] >= 1
    assert any(key.endswith(f"cache:schema:{name}") for key in stats["sample_keys"])
    cleared = api.client.delete("/cache/clear", headers=auth).json()
    assert cleared["cleared"] >= 1
    assert api.client.get("/validation/status", params={"task_id": third["task_id"]},
                          headers=auth).json()["state"] == "valid"

    # 9. health
    health = api.client.get("/healthcheck", headers=auth)
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"postgresql", "redis", "rabbitmq", "schema_store", "file_store"}
    assert all(s["status"] == "ok" and s["latency_ms"] >= 0 for s in body["services"].values())
    assert api.client.get("/healthcheck/simple").json() == {"status": "ok"}

    # 10. deleting the last version deletes the import
    assert api.client.delete(f"/schemas/remove/{name}", headers=auth).json() == {
        "import_name": name, "status": "deleted", "active_version": None}
    assert api.client.get(f"/schemas/{name}", headers=auth).status_code == 404


def test_reports_as_json_csv_and_html(api: Api) -> None:
    name = f"report_{uuid.uuid4().hex[:8]}"
    token = api.token()
    auth = api.auth(token)
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=auth).status_code == 201
    task = api.client.post(f"/validation/upload/{name}", files={"spreadsheet_file": ("bad.csv", BAD_CSV)},
                           headers=auth).json()["task_id"]
    status = wait_finished(api, token, task)
    assert status["state"] == "invalid" and status["summary"]["invalid_rows"] == 2
    assert status["report_uri"] == f"/api/v1/validation/report/{task}"

    report = api.client.get(f"/validation/report/{task}", headers=auth).json()
    assert (report["total_rows"], report["invalid_rows"]) == (3, 2)
    assert {(e["row"], e["column"], e["keyword"]) for e in report["errors"]} == {
        (3, None, "required"), (3, "age", "minimum"), (4, "age", "type")}
    rows = list(csv.DictReader(io.StringIO(api.client.get(f"/validation/report/{task}", params={"format": "csv"},
                                                          headers=auth).text)))
    assert [r["_row"] for r in rows] == ["3", "4"] and all(r["_errors"] for r in rows)
    page = api.client.get(f"/validation/report/{task}", params={"format": "html"}, headers=auth)
    assert page.headers["content-type"].startswith("text/html")
    assert "bad.csv" in page.text and "INVALID" in page.text and "<script src" not in page.text
