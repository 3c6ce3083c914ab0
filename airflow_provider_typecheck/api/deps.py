"""The routes' dependencies: settings, stores, the current user and the admin guard.

Stores are built once per app, on the first request that needs them (never at import
or app creation), so the same app works behind ``typecheck api`` and mounted inside
Airflow's API server, where a mounted app's lifespan never runs.

Authentication lives here and only here: a token names a user's id and token version,
and every request checks both against the users table (``UserStore.user_for_access_token``),
so a user deactivated, deleted, demoted or re-passworded since the token was issued is
refused at once, not when the token expires.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from airflow_provider_typecheck.registry.errors import AuthenticationError
from airflow_provider_typecheck.registry.models import UserPublic
from airflow_provider_typecheck.settings import TypecheckSettings

if TYPE_CHECKING:
    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.registry.cache import SchemaCache
    from airflow_provider_typecheck.registry.login_throttle import LoginThrottle
    from airflow_provider_typecheck.registry.schemas import SchemaStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.registry.users import UserStore

# Relative, so Swagger UI finds it under whatever prefix the app is mounted at.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="api/v1/login/access-token", auto_error=False)

UNAUTHORIZED = "could not validate credentials"


@dataclass
class Stores:
    users: UserStore
    schemas: SchemaStore
    cache: SchemaCache
    tasks: TaskStatusStore
    files: FileStore
    login_throttle: LoginThrottle


class StoreProvider:
    """Builds an app's stores on first use, once, however many threads ask at the same time."""

    def __init__(self, settings: TypecheckSettings) -> None:
        self.settings = settings
        self._stores: Stores | None = None
        self._lock = threading.Lock()

    def get(self) -> Stores:
        if self._stores is None:
            with self._lock:
                if self._stores is None:
                    self._stores = self._build()
        return self._stores

    def _build(self) -> Stores:
        from airflow_provider_typecheck.jobs.filestore import FileStore
        from airflow_provider_typecheck.jobs.publish import cached_schema_store
        from airflow_provider_typecheck.registry.login_throttle import LoginThrottle
        from airflow_provider_typecheck.registry.tasks import TaskStatusStore
        from airflow_provider_typecheck.registry.users import init_users

        # The same cached store the publisher uses, so an upload's 404 check and the
        # publish see one cache, invalidated by every schema write.
        schemas = cached_schema_store(self.settings)
        tasks = TaskStatusStore.from_settings(self.settings)
        return Stores(
            users=init_users(self.settings),
            schemas=schemas,
            cache=schemas.cache,  # type: ignore[attr-defined]
            tasks=tasks,
            files=FileStore.from_settings(self.settings),
            login_throttle=LoginThrottle(tasks.redis, prefix=self.settings.redis_prefix),
        )


def get_settings(request: Request) -> TypecheckSettings:
    return request.app.state.settings


def get_stores(request: Request) -> Stores:
    return request.app.state.stores.get()


SettingsDep = Annotated[TypecheckSettings, Depends(get_settings)]
StoresDep = Annotated[Stores, Depends(get_stores)]


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def issue_access_token(user: UserPublic, settings: TypecheckSettings, stores: Stores) -> str:
    """The bearer token of a user who just logged in (it names the user's id and token version)."""
    return stores.users.issue_access_token(user.id, settings=settings)


_T = TypeVar("_T")


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def login_guarded(request: Request, stores: Stores, username: str, check: Callable[[], _T]) -> _T:
    """
    Run a password ``check`` for ``username`` behind the login throttle.

    A throttled attempt is a 429 with ``Retry-After``, before any password is hashed.
    ``check`` raising :class:`AuthenticationError` counts as a failed attempt.
    """
    throttle = stores.login_throttle
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
    token: Annotated[str | None, Depends(oauth2_scheme)], settings: SettingsDep, stores: StoresDep
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
        return stores.users.user_for_access_token(token, settings=settings)
    except AuthenticationError:
        raise _unauthorized() from None


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> UserPublic:
    if user.role != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    return user


AdminUser = Annotated[UserPublic, Depends(require_admin)]
