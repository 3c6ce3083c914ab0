"""Accounts and logins, tried as an attacker would over HTTP: weak passwords, a stolen token, guessing.

Each throttling test speaks from addresses of its own (``X-Forwarded-For``, which
``typecheck api`` trusts from 127.0.0.1 like uvicorn does by default), so its failed
logins never slow the rest of the session, nor the other way round.
"""

from __future__ import annotations

import uuid

import pytest

from airflow_provider_typecheck.registry.login_throttle import ThrottlePolicy
from tests.integration.api_support import USER_PASSWORD, Api, new_user

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis")]

STRONG = USER_PASSWORD
POLICY = ThrottlePolicy()


def _address() -> str:
    # A random address of the documentation range (RFC 3849): nobody else's counters.
    word = uuid.uuid4().hex
    return f"2001:db8::{word[:4]}:{word[4:8]}:{word[8:12]}"


def _login(api: Api, username: str, password: str, address: str) -> object:
    return api.client.post("/login/access-token", data={"username": username, "password": password},
                           headers={"X-Forwarded-For": address})


def _new_user(api: Api) -> str:
    return new_user(api, "acct")[0]


@pytest.mark.parametrize("password", ["12345678", "password", "password123", "qwertyuiop"])
def test_an_admin_cannot_create_a_user_with_a_common_password(api: Api, password: str) -> None:
    username = f"weak-{uuid.uuid4().hex[:8]}"
    refused = api.client.post("/users/create", json={"username": username, "password": password},
                              headers=api.auth(api.token()))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("the password is too easy to guess")
    assert f'"{password}"' not in refused.text and "input" not in refused.json()  # never echoed
    assert api.client.get(f"/users/search/{username}", headers=api.auth(api.token())).status_code == 404


def test_a_password_like_the_username_is_refused(api: Api) -> None:
    username = f"harold-{uuid.uuid4().hex[:4]}"
    refused = api.client.post("/users/create", json={"username": username, "password": f"{username}1"},
                              headers=api.auth(api.token()))
    assert refused.status_code == 422, refused.text


def test_a_stolen_token_cannot_change_the_password(api: Api) -> None:
    username = _new_user(api)
    stolen = api.auth(api.token(username, STRONG))
    url = f"/users/update/{username}"

    without = api.client.patch(url, json={"password": "mallory-owns-this-1"}, headers=stolen)
    assert without.status_code == 422 and "current_password" in without.json()["detail"]
    wrong = api.client.patch(url, json={"password": "mallory-owns-this-1", "current_password": "a-guess-1234"},
                             headers=stolen)
    assert wrong.status_code == 403 and wrong.json() == {"detail": "current_password is wrong"}
    assert api.client.get("/users/info", headers=stolen).status_code == 200  # nothing changed
    api.token(username, STRONG)

    # The owner, who knows it, can; a weak new password is refused even then.
    weak = api.client.patch(url, json={"password": "password1", "current_password": STRONG}, headers=stolen)
    assert weak.status_code == 422
    changed = api.client.patch(url, json={"password": "violet-harbour-87", "current_password": STRONG},
                               headers=stolen)
    assert changed.status_code == 200, changed.text
    api.token(username, "violet-harbour-87")


def test_an_admin_resets_another_users_password_without_theirs(api: Api) -> None:
    username = _new_user(api)
    reset = api.client.patch(f"/users/update/{username}", json={"password": "violet-harbour-87"},
                             headers=api.auth(api.token()))
    assert reset.status_code == 200, reset.text
    api.token(username, "violet-harbour-87")


def test_guessing_one_account_from_one_address_is_stopped_at_the_eleventh_try(api: Api) -> None:
    username = _new_user(api)
    attacker, owner = _address(), _address()
    for _ in range(POLICY.pair.free):
        assert _login(api, username, "not-the-password", attacker).status_code == 401
    throttled = _login(api, username, "not-the-password", attacker)
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["retry-after"]) == POLICY.pair.first_delay_seconds
    # Even the right password is refused now: a throttled try tells the attacker nothing.
    assert _login(api, username, STRONG, attacker).status_code == 429
    # The real user, elsewhere, is not locked out.
    assert _login(api, username, STRONG, owner).status_code == 200


def test_a_stolen_token_cannot_guess_the_current_password_either(api: Api) -> None:
    username = _new_user(api)
    stolen = api.auth(api.token(username, STRONG))
    headers = {**stolen, "X-Forwarded-For": _address()}
    for _ in range(POLICY.pair.free):
        wrong = api.client.patch(f"/users/update/{username}", headers=headers,
                                 json={"password": "mallory-owns-this-1", "current_password": "a-guess-1234"})
        assert wrong.status_code == 403
    throttled = api.client.patch(f"/users/update/{username}", headers=headers,
                                 json={"password": "mallory-owns-this-1", "current_password": STRONG})
    assert throttled.status_code == 429 and "retry-after" in throttled.headers


def test_spraying_many_accounts_from_one_address_is_stopped(api: Api) -> None:
    sprayer = _address()
    codes = [_login(api, f"sprayed-{i}-{uuid.uuid4().hex[:4]}", "Summer2024!", sprayer).status_code
             for i in range(POLICY.address.free)]
    assert set(codes) == {401}
    throttled = _login(api, f"sprayed-{uuid.uuid4().hex[:4]}", "Summer2024!", sprayer)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


def test_guessing_from_many_addresses_never_locks_the_owner_out_of_a_known_address(api: Api) -> None:
    username = _new_user(api)
    home = _address()
    assert _login(api, username, STRONG, home).status_code == 200  # a known address from now on
    # A botnet: each address stays under its own limits, together they pass the username's.
    for _ in range(POLICY.username.free):
        assert _login(api, username, "not-the-password", _address()).status_code == 401
    throttled = _login(api, username, STRONG, _address())
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= POLICY.username.max_delay_seconds
    assert _login(api, username, STRONG, home).status_code == 200
