"""Login (OAuth2 password flow) and a token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from airflow_provider_typecheck.api.deps import CurrentUser, SettingsDep, ServicesDep, issue_access_token, login_guarded
from airflow_provider_typecheck.api.models import Token, UserOut
from airflow_provider_typecheck.api.responses import AUTH, errors
from airflow_provider_typecheck.registry import security
from airflow_provider_typecheck.registry.models import UserPublic, is_valid_username

router = APIRouter(prefix="/login", tags=["login"])


@router.post("/access-token", responses=errors(*AUTH, 429))
def login_access_token(
    request: Request,
    services: ServicesDep,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Token:
    """
    Exchange a username and password (form fields) for a bearer token.

    Every failure is the same 401: an unknown user, a wrong password, an inactive
    account and an empty field cannot be told apart, nor by the time they take.
    Past 10 failures in 15 minutes from one address for one username (and past wider
    limits, see ``docs/security.md``), a 429 with ``Retry-After``, before any hashing.
    """
    def check() -> UserPublic:
        if not is_valid_username(username):
            # No stored user can have this name: the same refusal after the same work.
            security.authenticate(lambda _: None, username, password)
        return services.users.authenticate(username, password)

    user = login_guarded(request, services, username, check)
    return Token(access_token=issue_access_token(user, settings, services))


@router.get("/test-token", responses=errors(*AUTH))
def test_token(user: CurrentUser) -> UserOut:
    """The user the token belongs to."""
    return UserOut.of(user)
