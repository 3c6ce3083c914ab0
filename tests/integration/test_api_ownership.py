"""A schema is changed by its owner and admins only, tried over HTTP by another ordinary account."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.api_support import USERS_SCHEMA, Api, new_user

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis")]

CHANGED = {**USERS_SCHEMA, "required": ["name"]}


def _user(api: Api) -> dict[str, str]:
    return new_user(api, "own")[1]


def test_another_user_cannot_replace_version_or_remove_a_schema(api: Api) -> None:
    owner, mallory = _user(api), _user(api)
    name = f"payroll_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=owner).status_code == 201

    replaced = api.client.post(f"/schemas/upload/{name}", params={"new": "false"}, json=CHANGED, headers=mallory)
    versioned = api.client.post(f"/schemas/upload/{name}", params={"new": "true"}, json=CHANGED, headers=mallory)
    removed = api.client.delete(f"/schemas/remove/{name}", headers=mallory)
    for refused in (replaced, versioned, removed):
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"detail": f"only the schema's owner or an admin may change {name!r}"}
    # Nothing changed, and the schema is still shared: others read it and validate against it.
    assert api.client.get(f"/schemas/{name}", headers=mallory).json() == USERS_SCHEMA
    assert api.client.get("/schemas/status", params={"import_name": name}, headers=mallory).json()[
        "active_version"] == 1
    queued = api.client.post(f"/validation/upload/{name}", headers=mallory,
                             files={"spreadsheet_file": ("a.csv", b"name,email\nx,x@example.com\n")})
    assert queued.status_code == 202, queued.text


def test_the_owner_and_admins_change_it(api: Api) -> None:
    owner = _user(api)
    admin = api.auth(api.token())
    name = f"payroll_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=owner).status_code == 201
    new = api.client.post(f"/schemas/upload/{name}", params={"new": "true"}, json=CHANGED, headers=owner)
    assert (new.status_code, new.json()["status"]) == (201, "new_version")
    replaced = api.client.post(f"/schemas/upload/{name}", params={"new": "false"}, json=USERS_SCHEMA, headers=admin)
    assert (replaced.status_code, replaced.json()["status"]) == (201, "replaced")
    assert api.client.delete(f"/schemas/remove/{name}", headers=admin).json()["status"] == "rolled_back"
    assert api.client.delete(f"/schemas/remove/{name}", headers=owner).json()["status"] == "deleted"
    # Deleted, the name is free for whoever creates it next.
    other = _user(api)
    assert api.client.post(f"/schemas/upload/{name}", json=CHANGED, headers=other).status_code == 201
    assert api.client.delete(f"/schemas/remove/{name}", headers=owner).status_code == 403
