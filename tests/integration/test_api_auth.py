"""Every protected route x every kind of caller: table-driven, through HTTP against ``typecheck api``."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest

from airflow_provider_typecheck.registry.models import UserCreate, UserUpdate
from airflow_provider_typecheck.registry.security import create_access_token
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import services_for
from tests.integration.api_support import ADMIN, ADMIN_PASSWORD, USERS_SCHEMA, Api

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis")]

IMPORT = f"auth_{uuid.uuid4().hex[:8]}"
CSV = ("spreadsheet_file", ("a.csv", b"name,email\nx,x@example.com\n"))

# (method, path, request kwargs, role needed)
ROUTES = [
    ("GET", "/login/test-token", {}, "user"),
    ("GET", "/users/info", {}, "user"),
    ("POST", "/users/create", {"json": {"username": "SELF", "password": "tangerine-cobalt-41"}}, "admin"),
    ("GET", "/users/search", {}, "admin"),
    ("GET", "/users/search/{other}", {}, "admin"),
    ("PATCH", "/users/update/{other}", {"json": {"is_active": True}}, "admin"),
    ("DELETE", "/users/delete/{victim}", {}, "admin"),
    ("POST", f"/schemas/upload/{IMPORT}", {"json": USERS_SCHEMA}, "owner"),  # the admin's schema
    ("GET", "/schemas/status", {}, "user"),
    ("GET", f"/schemas/{IMPORT}", {}, "user"),
    ("DELETE", "/schemas/remove/{doomed}", {}, "owner"),  # made with no owner: admins only
    ("POST", f"/validation/upload/{IMPORT}", {"files": dict([CSV])}, "user"),
    ("GET", "/validation/status", {"params": {"import_name": IMPORT}}, "user"),
    ("GET", "/validation/report/{task}", {}, "submitter"),  # the admin's task: hidden from others
    ("GET", "/healthcheck", {}, "user"),
    ("GET", "/cache", {}, "admin"),
    ("DELETE", "/cache/clear", {}, "admin"),
]
REFUSED = ["no token", "malformed", "forged signature", "expired", "deactivated user", "deleted user"]
CALLERS = [*REFUSED, "user role", "admin"]


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    """Users in every state, their tokens, and the things the routes name."""
    settings = TypecheckSettings()
    users = services_for(settings).users
    tag = uuid.uuid4().hex[:6]
    names = {kind: f"{kind.split()[0]}-{tag}" for kind in ("user role", "deactivated user", "deleted user", "other")}
    for name in names.values():
        users.create(UserCreate(username=name, password="password123"))
    tokens = {kind: api.token(name, "password123") for kind, name in names.items() if kind != "other"}
    deactivated = users.get_by_username(names["deactivated user"])
    users.update(deactivated.id, UserUpdate(is_active=False))
    users.delete(users.get_by_username(names["deleted user"]).id)
    tokens["admin"] = api.token(ADMIN, ADMIN_PASSWORD)
    tokens["no token"] = ""
    tokens["malformed"] = "not-a-jwt"
    admin_id = str(users.get_by_username(ADMIN).id)
    tokens["forged signature"] = jwt.encode({"sub": admin_id, "role": "admin", "ver": 0, "exp": 4102444800},
                                            "another-secret-of-at-least-32-bytes!!", algorithm="HS256")
    # Right secret, right version, run out: only the expiry refuses it.
    version = jwt.decode(tokens["admin"], options={"verify_signature": False})["ver"]
    tokens["expired"] = create_access_token(admin_id, "admin", token_version=version,
                                            expires_delta=timedelta(seconds=-1), settings=settings)
    admin = api.auth(tokens["admin"])
    api.client.post(f"/schemas/upload/{IMPORT}", json=USERS_SCHEMA, headers=admin)
    task = api.client.post(f"/validation/upload/{IMPORT}", files=dict([CSV]), headers=admin).json()["task_id"]
    return {**{f"token:{k}": v for k, v in tokens.items()}, "other": names["other"], "task": task, "tag": tag}


def _call(api: Api, world: dict[str, str], caller: str, method: str, path: str, kwargs: dict) -> object:
    tag = uuid.uuid4().hex[:6]
    # Each call that destroys something gets a thing of its own to destroy.
    users = services_for(TypecheckSettings()).users
    victim = f"victim-{tag}"
    if "{victim}" in path:
        users.create(UserCreate(username=victim, password="password123"))
    doomed = f"doomed_{tag}"
    if "{doomed}" in path:
        services_for(TypecheckSettings()).schemas.put(doomed, USERS_SCHEMA, new_version=True, actor="test")
    if method == "POST" and path == "/users/create":
        kwargs = {"json": {**kwargs["json"], "username": f"created-{tag}"}}
    url = path.format(other=world["other"], victim=victim, doomed=doomed, task=world["task"])
    token = world[f"token:{caller}"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.client.request(method, url, headers=headers, **kwargs)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "kwargs", "needs"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_every_protected_route_refuses_whom_it_must(
    api: Api, world: dict[str, str], method: str, path: str, kwargs: dict, needs: str, caller: str
) -> None:
    response = _call(api, world, caller, method, path, kwargs)
    if caller in REFUSED:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "could not validate credentials"}
    elif caller == "user role" and needs == "admin":
        assert response.status_code == 403, response.text
        assert response.json() == {"detail": "admin role required"}
    elif caller == "user role" and needs == "submitter":
        assert response.status_code == 404, response.text
    elif caller == "user role" and needs == "owner":
        assert response.status_code == 403, response.text
    else:
        assert response.status_code in (200, 201, 202, 204, 409), response.text  # 409: the report may not be ready


def test_a_demoted_admin_is_refused_at_once(api: Api) -> None:
    users = services_for(TypecheckSettings()).users
    name = f"boss-{uuid.uuid4().hex[:6]}"
    boss = users.create(UserCreate(username=name, password="password123", role="admin"))
    token = api.token(name, "password123")
    assert api.client.get("/cache", headers=api.auth(token)).status_code == 200
    users.update(boss.id, UserUpdate(role="user"))
    # The old token names a role that no longer holds: refused as a whole (401)...
    assert api.client.get("/cache", headers=api.auth(token)).status_code == 401
    # ...and a new one carries the new role: 403 on admin routes.
    assert api.client.get("/cache", headers=api.auth(api.token(name, "password123"))).status_code == 403


def test_login_failures_are_indistinguishable(api: Api) -> None:
    unknown = api.client.post("/login/access-token", data={"username": "nobody-at-all", "password": "password123"})
    wrong = api.client.post("/login/access-token", data={"username": ADMIN, "password": "wrong-password"})
    empty = api.client.post("/login/access-token", data={})
    impossible = api.client.post("/login/access-token", data={"username": "nul\x00name", "password": "x"})
    assert unknown.status_code == wrong.status_code == empty.status_code == impossible.status_code == 401
    assert unknown.json() == wrong.json() == empty.json() == impossible.json() == {
        "detail": "incorrect username or password"}
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"
