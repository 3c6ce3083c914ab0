"""Users: the current one, and (for admins) everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from airflow_provider_typecheck.api.deps import CurrentUser, ServicesDep, login_guarded, require_admin
from airflow_provider_typecheck.api.models import UserCreateIn, UserOut, UsersOut, UserUpdateIn
from airflow_provider_typecheck.api.responses import ADMIN, AUTH, errors
from airflow_provider_typecheck.registry import security
from airflow_provider_typecheck.registry.errors import AuthenticationError
from airflow_provider_typecheck.registry.models import USERNAME_PATTERN, UserCreate, UserUpdate
from airflow_provider_typecheck.services import Services

router = APIRouter(prefix="/users", tags=["users"])

Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]


@router.get("/info", responses=errors(*AUTH))
def user_info(user: CurrentUser) -> UserOut:
    return UserOut.of(user)


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_admin)],
    responses=errors(*ADMIN, 409),
)
def create_user(body: UserCreateIn, services: ServicesDep) -> UserOut:
    """
    Create a user (admin only); 409 if the username is taken in any letter case, 422
    if the password is too short or too easy to guess.
    """
    security.check_password_strength(body.password, username=body.username)
    created = services.users.create(
        UserCreate(username=body.username, password=body.password, role=body.rol, is_active=body.is_active)
    )
    return UserOut.of(created)


@router.get("/search", dependencies=[Depends(require_admin)], responses=errors(*ADMIN))
def list_users(
    services: ServicesDep,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> UsersOut:
    page = services.users.list(skip=skip, limit=limit)
    return UsersOut(data=[UserOut.of(u) for u in page.data], count=page.count)


@router.get("/search/{username}", responses=errors(*ADMIN, 404))
def get_user(username: Username, user: CurrentUser, services: ServicesDep) -> UserOut:
    """A user by name: admins may look anyone up, users only themselves."""
    if user.role != "admin" and username.lower() != user.username.lower():
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    return UserOut.of(services.users.get_by_username(username))


@router.patch("/update/{username}", responses=errors(*ADMIN, 404, 409, 429))
def update_user(
    username: Username, body: UserUpdateIn, user: CurrentUser, services: ServicesDep, request: Request
) -> UserOut:
    """
    Change a user's password, role or active flag (admin). A user may change their own
    password only. Changing one's own password (admins too) needs ``current_password``:
    a stolen token alone cannot take the account over. 422 for a weak new password,
    403 for a wrong current one, 409 when the change would leave no active admin.
    """
    own = username.lower() == user.username.lower()
    own_password_only = own and body.rol is None and body.is_active is None
    if user.role != "admin" and not own_password_only:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    if body.password is not None:
        security.check_password_strength(body.password, username=username)
        if own:
            _check_current_password(request, user.username, body.current_password, services)
    target = services.users.get_by_username(username)
    updated = services.users.update(
        target.id, UserUpdate(password=body.password, role=body.rol, is_active=body.is_active)
    )
    return UserOut.of(updated)


def _check_current_password(request: Request, username: str, current: str | None, services: Services) -> None:
    # Wrong guesses count as failed logins: a stolen token cannot brute-force the password here either.
    if not current:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "current_password is needed to change your own password")
    try:
        login_guarded(request, services, username, lambda: services.users.authenticate(username, current))
    except AuthenticationError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "current_password is wrong") from None


@router.delete(
    "/delete/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require_admin)],
    responses=errors(*ADMIN, 404, 409),
)
def delete_user(username: Username, services: ServicesDep) -> None:
    """Delete a user (admin); 409 for the last active admin."""
    services.users.delete(services.users.get_by_username(username).id)
