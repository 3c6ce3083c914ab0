"""Login (OAuth2 password flow) and a token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from airflow_provider_typecheck.api.deps import CurrentUser, SettingsDep, StoresDep, issue_access_token
from airflow_provider_typecheck.api.models import Token, UserOut
from airflow_provider_typecheck.api.responses import AUTH, errors

router = APIRouter(prefix="/login", tags=["login"])


@router.post("/access-token", responses=errors(*AUTH))
def login_access_token(
    stores: StoresDep,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Token:
    """
    Exchange a username and password (form fields) for a bearer token.

    Every failure is the same 401: an unknown user, a wrong password, an inactive
    account and an empty field cannot be told apart, nor by the time they take.
    """
    user = stores.users.authenticate(username, password)
    return Token(access_token=issue_access_token(user, settings))


@router.get("/test-token", responses=errors(*AUTH))
def test_token(user: CurrentUser) -> UserOut:
    """The user the token belongs to."""
    return UserOut.of(user)
