"""The routes' dependencies: settings, services, the current user and the admin guard.

The app's :class:`~airflow_provider_typecheck.services.Services` (the composition root)
builds its clients and stores on the first request that needs them (never at import
or app creation), so the same app works behind ``typecheck api`` and mounted inside
Airflow's API server, where a mounted app's lifespan never runs. The first admin of
the settings is created on the first request, once.

Authentication lives here and only here: a token names a user's id and token version,
and every request checks both against the users table (``UserStore.user_for_access_token``),
so a user deactivated, deleted, demoted or re-passworded since the token was issued is
refused at once, not when the token expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from airflow_provider_typecheck.lazy import Once
from airflow_provider_typecheck.registry.errors import AuthenticationError
from airflow_provider_typecheck.registry.models import UserPublic
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

# Relative, so Swagger UI finds it under whatever prefix the app is mounted at.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="api/v1/login/access-token", auto_error=False)

UNAUTHORIZED = "could not validate credentials"

class AppServices:
    """An app's services, with the settings' first admin created before the first use."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._first_admin = Once(lambda: services.users.ensure_first_admin(services.settings))

    def get(self) -> Services:
        self._first_admin.get()
        return self.services


def get_settings(request: Request) -> TypecheckSettings:
    return request.app.state.settings


def get_app_services(request: Request) -> Services:
    return request.app.state.services.get()


SettingsDep = Annotated[TypecheckSettings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_app_services)]


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def issue_access_token(user: UserPublic, settings: TypecheckSettings, services: Services) -> str:
    """The bearer token of a user who just logged in (it names the user's id and token version)."""
    return services.users.issue_access_token(user.id, settings=settings)


_T = TypeVar("_T")


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def login_guarded(request: Request, services: Services, username: str, check: Callable[[], _T]) -> _T:
    """
    Run a password ``check`` for ``username`` behind the login throttle.

    A throttled attempt is a 429 with ``Retry-After``, before any password is hashed.
    ``check`` raising :class:`AuthenticationError` counts as a failed attempt.
    """
    throttle = services.login_throttle
    attempt = throttle.begin(username, client_address(request))
    if attempt.wait_seconds is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {attempt.wait_seconds} s",
            headers={"Retry-After": str(attempt.wait_seconds)},
        )
    try:
        result = check()
    except AuthenticationError:
        raise
    except BaseException:
        throttle.abandoned(attempt)
        raise
    throttle.succeeded(attempt)
    return result


def get_current_user(
    token: Annotated[str | None, Depends(oauth2_scheme)], settings: SettingsDep, services: ServicesDep
) -> UserPublic:
    """
    The user a valid bearer token names, as stored now.

    Missing, malformed, forged or expired tokens, and users since deleted, deactivated,
    demoted or given a new password (the token's version is then stale), all get the
    same 401. The role acted on is the stored one, never the token's.
    """
    if not token:
        raise _unauthorized()
    try:
        return services.users.user_for_access_token(token, settings=settings)
    except AuthenticationError:
        raise _unauthorized() from None


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> UserPublic:
    if user.role != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    return user


AdminUser = Annotated[UserPublic, Depends(require_admin)]
