"""The routes' dependencies: settings, stores, the current user and the admin guard.

Stores are built once per app, on the first request that needs them (never at import
or app creation), so the same app works behind ``typecheck api`` and mounted inside
Airflow's API server, where a mounted app's lifespan never runs.

Authentication lives here and only here: a token names a user, and every request
looks that user up again, so a user deactivated, deleted or demoted since the token
was issued is refused at once, not when the token expires.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from airflow_provider_typecheck.registry.errors import AuthenticationError, NotFound
from airflow_provider_typecheck.registry.models import UserPublic
from airflow_provider_typecheck.settings import TypecheckSettings

if TYPE_CHECKING:
    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.registry.cache import SchemaCache
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
        from airflow_provider_typecheck.registry.tasks import TaskStatusStore
        from airflow_provider_typecheck.registry.users import init_users

        # The same cached store the publisher uses, so an upload's 404 check and the
        # publish see one cache, invalidated by every schema write.
        schemas = cached_schema_store(self.settings)
        return Stores(
            users=init_users(self.settings),
            schemas=schemas,
            cache=schemas.cache,  # type: ignore[attr-defined]
            tasks=TaskStatusStore.from_settings(self.settings),
            files=FileStore.from_settings(self.settings),
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


def issue_access_token(user: UserPublic, settings: TypecheckSettings) -> str:
    """The bearer token of a user who just logged in."""
    from airflow_provider_typecheck.registry.security import create_access_token

    return create_access_token(user.username, user.role, settings=settings)


def get_current_user(
    token: Annotated[str | None, Depends(oauth2_scheme)], settings: SettingsDep, stores: StoresDep
) -> UserPublic:
    """
    The user a valid bearer token names, as stored now.

    Missing, malformed, forged or expired tokens, and users since deleted or
    deactivated, all get the same 401. The role is the stored one, not the token's.
    """
    from airflow_provider_typecheck.registry.security import decode_access_token

    if not token:
        raise _unauthorized()
    try:
        claims = decode_access_token(token, settings=settings)
        user = stores.users.get_by_username(claims.sub)
    except (AuthenticationError, NotFound):
        raise _unauthorized() from None
    if not user.is_active:
        raise _unauthorized()
    return user


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> UserPublic:
    if user.role != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    return user


AdminUser = Annotated[UserPublic, Depends(require_admin)]
