"""Users in PostgreSQL: CRUD for the routes, login, the first admin.

The ``users`` table lives in the package's own PostgreSQL schema (``typecheck`` by
default) and is created by :mod:`.migrations` on first use. Usernames are unique
regardless of case. Nothing returned here carries a password hash except
:meth:`UserStore.get_for_login`, which the login path alone uses.

The last active admin can be neither deleted, demoted nor deactivated. Every update
and delete first takes a transaction-level advisory lock for the users table, then
counts the active admins, so two admins demoting each other at once cannot both
succeed: the second waits for the first to commit and then counts one admin left.
(Locking the admin rows instead would deadlock two such transactions, each holding
its own row; updates of users are rare, so serialising them costs nothing.)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ValidationError

from airflow_provider_typecheck.registry import security
from airflow_provider_typecheck.registry.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInput,
    InvalidToken,
    LastAdminError,
    UserExists,
    UserNotFound,
)
from airflow_provider_typecheck.registry.migrations import PostgresDatabase, quote_schema
from airflow_provider_typecheck.registry.models import (
    TokenPayload,
    UserCreate,
    UserInDB,
    UserPublic,
    UsersPublic,
    UserUpdate,
)

if TYPE_CHECKING:
    from airflow_provider_typecheck.settings import TypecheckSettings

log = logging.getLogger(__name__)

_COLUMNS = "id, username, role, is_active, created_at, updated_at, hashed_password, token_version"
_UNIQUE_VIOLATION = "23505"


def _row_to_user(row: tuple[Any, ...]) -> UserInDB:
    return UserInDB(
        id=row[0],
        username=row[1],
        role=row[2],
        is_active=row[3],
        created_at=row[4],
        updated_at=row[5],
        hashed_password=row[6],
        token_version=row[7],
    )


def _user_id(user_id: UUID | str) -> str:
    # A malformed id names no user: say so rather than let PostgreSQL raise a type error.
    try:
        return str(UUID(str(user_id)))
    except ValueError:
        raise UserNotFound("user not found") from None


def _is_unique_violation(exc: BaseException) -> bool:
    # psycopg 3 exposes ``sqlstate``, psycopg2 ``pgcode``: the hook may use either.
    return _UNIQUE_VIOLATION in (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None))


class UserStore:
    """
    Accounts with a role (``admin`` | ``user``) and an active flag.

    :param database: the package's PostgreSQL (the composition root's pool; the store does not close it).
    """

    def __init__(self, database: PostgresDatabase) -> None:
        self.schema = database.schema
        self._table = f"{quote_schema(database.schema)}.users"
        self._db = database

    def _connect(self) -> Any:
        return self._db.connect()

    def ping(self, timeout: float = 2.0) -> None:
        """Check that PostgreSQL answers ``SELECT 1`` within ``timeout`` seconds; raise if not."""
        self._db.ping(timeout)

    # --- reads ----------------------------------------------------------------------

    def get(self, user_id: UUID | str) -> UserPublic:
        """:raises UserNotFound:"""
        return self._fetch_one(f"SELECT {_COLUMNS} FROM {self._table} WHERE id = %s", (_user_id(user_id),)).public()

    def get_by_username(self, username: str) -> UserPublic:
        """:raises UserNotFound:"""
        return self._fetch_one(
            f"SELECT {_COLUMNS} FROM {self._table} WHERE lower(username) = lower(%s)", (username,)
        ).public()

    def get_for_login(self, username: str) -> UserInDB | None:
        """The stored user with its hash, or None: for :func:`.security.authenticate` only."""
        try:
            return self._fetch_one(
                f"SELECT {_COLUMNS} FROM {self._table} WHERE lower(username) = lower(%s)", (username,)
            )
        except UserNotFound:
            return None

    def _fetch_one(self, sql: str, params: tuple[Any, ...]) -> UserInDB:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            conn.rollback()
        if row is None:
            raise UserNotFound("user not found")
        return _row_to_user(row)

    def list(self, skip: int = 0, limit: int = 100) -> UsersPublic:
        """One page of users by username, with the total count."""
        if skip < 0 or not 0 < limit <= 1000:
            raise InvalidInput("need skip >= 0 and 0 < limit <= 1000")
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {self._table} ORDER BY lower(username) OFFSET %s LIMIT %s", (skip, limit)
            )
            rows = cur.fetchall()
            cur.execute(f"SELECT count(*) FROM {self._table}")
            total = cur.fetchone()[0]
            conn.rollback()
        return UsersPublic(data=[_row_to_user(r).public() for r in rows], count=total)

    # --- writes ---------------------------------------------------------------------

    def create(self, user: UserCreate) -> UserPublic:
        """:raises UserExists: the username is taken (in any letter case)."""
        hashed = security.hash_password(user.password.get_secret_value())
        with self._connect() as conn, conn.cursor() as cur:
            try:
                cur.execute(
                    f"INSERT INTO {self._table} (username, hashed_password, role, is_active)"
                    f" VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
                    (user.username, hashed, user.role, user.is_active),
                )
            except Exception as exc:
                if _is_unique_violation(exc):
                    raise UserExists(f"user {user.username!r} already exists") from None
                raise
            row = cur.fetchone()
            conn.commit()
        return _row_to_user(row).public()

    def update(self, user_id: UUID | str, changes: UserUpdate) -> UserPublic:
        """
        Change the password, role or active flag (only the fields set in ``changes``).

        A new password, a new role or a change of the active flag also bumps the
        user's token version, so every token issued before stops working at once.

        :raises UserNotFound:
        :raises LastAdminError: the change would leave no active admin.
        """
        assignments: list[str] = []
        params: list[Any] = []
        if changes.password is not None:
            assignments.append("hashed_password = %s")
            params.append(security.hash_password(changes.password.get_secret_value()))
        if changes.role is not None:
            assignments.append("role = %s")
            params.append(changes.role)
        if changes.is_active is not None:
            assignments.append("is_active = %s")
            params.append(changes.is_active)
        with self._connect() as conn, conn.cursor() as cur:
            current = self._lock_user(cur, user_id)
            loses_admin = (changes.role == "user") or (changes.is_active is False)
            if loses_admin:
                self._refuse_if_last_admin(cur, current)
            revokes = (
                changes.password is not None
                or (changes.role is not None and changes.role != current.role)
                or (changes.is_active is not None and changes.is_active != current.is_active)
            )
            if revokes:
                assignments.append("token_version = token_version + 1")
            if assignments:
                cur.execute(
                    f"UPDATE {self._table} SET {', '.join(assignments)}, updated_at = now()"
                    f" WHERE id = %s RETURNING {_COLUMNS}",
                    (*params, str(current.id)),
                )
                current = _row_to_user(cur.fetchone())
            conn.commit()
        return current.public()

    def delete(self, user_id: UUID | str) -> None:
        """:raises UserNotFound: :raises LastAdminError: it is the last active admin."""
        with self._connect() as conn, conn.cursor() as cur:
            current = self._lock_user(cur, user_id)
            self._refuse_if_last_admin(cur, current)
            cur.execute(f"DELETE FROM {self._table} WHERE id = %s", (str(current.id),))
            conn.commit()

    def _lock_user(self, cur: Any, user_id: UUID | str) -> UserInDB:
        user_id = _user_id(user_id)
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"typecheck:users:{self.schema}",))
        cur.execute(f"SELECT {_COLUMNS} FROM {self._table} WHERE id = %s FOR UPDATE", (user_id,))
        row = cur.fetchone()
        if row is None:
            raise UserNotFound("user not found")
        return _row_to_user(row)

    def _refuse_if_last_admin(self, cur: Any, user: UserInDB) -> None:
        if user.role != "admin" or not user.is_active:
            return
        cur.execute(f"SELECT count(*) FROM {self._table} WHERE role = 'admin' AND is_active")
        if cur.fetchone()[0] <= 1:
            raise LastAdminError("the last active admin cannot be deleted, demoted or deactivated")

    def set_password_hash(self, user_id: UUID | str, hashed_password: str) -> None:
        """Store an upgraded hash of the same password (after :func:`.security.verify_password`)."""
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"UPDATE {self._table} SET hashed_password = %s WHERE id = %s", (hashed_password, str(user_id)))
            conn.commit()

    # --- tokens ---------------------------------------------------------------------

    def issue_access_token(self, user_id: UUID | str, *, settings: TypecheckSettings | None = None) -> str:
        """
        Sign an access token for the user as stored now (its id, role and token version).

        :raises UserNotFound: no such user.
        :raises AuthenticationError: the account is inactive.
        """
        user = self._fetch_one(f"SELECT {_COLUMNS} FROM {self._table} WHERE id = %s", (_user_id(user_id),))
        if not user.is_active:
            raise AuthenticationError("incorrect username or password")
        return security.create_access_token(
            str(user.id), user.role, token_version=user.token_version, settings=settings
        )

    def user_for_token(self, claims: TokenPayload) -> UserPublic:
        """
        The user a decoded token names, as stored now: what the API calls on every request.

        The role to act on is the returned user's, never the token's.

        :raises InvalidToken: (an :class:`AuthenticationError`) the user was deleted or
            deactivated, or its password, role or active flag changed since the token
            was issued (the token version differs).
        """
        try:
            user = self._fetch_one(f"SELECT {_COLUMNS} FROM {self._table} WHERE id = %s", (_user_id(claims.sub),))
        except UserNotFound:
            raise InvalidToken("could not validate credentials") from None
        if not user.is_active or user.token_version != claims.ver:
            raise InvalidToken("could not validate credentials")
        return user.public()

    def user_for_access_token(self, token: str, *, settings: TypecheckSettings | None = None) -> UserPublic:
        """:func:`.security.decode_access_token` then :meth:`user_for_token`: one call per request.

        :raises InvalidToken: for every kind of bad token, with one message.
        """
        return self.user_for_token(security.decode_access_token(token, settings=settings))

    # --- login and bootstrap --------------------------------------------------------

    def authenticate(self, username: str, password: str) -> UserPublic:
        """
        Return the user if the password is right and the account active.

        :raises AuthenticationError: one error for every failure (see :func:`.security.authenticate`).
        """
        user, new_hash = security.authenticate(self.get_for_login, username, password)
        if new_hash is not None:
            self.set_password_hash(user.id, new_hash)
        return user.public()

    def ensure_first_admin(self, settings: TypecheckSettings | None = None) -> UserPublic | None:
        """
        Create the admin named by ``TYPECHECK_FIRST_ADMIN_USERNAME``/``_PASSWORD`` if no
        admin exists at all (active or not); return it when created, None otherwise.

        Only a store with no admin is bootstrapped: once any admin exists, deleting or
        renaming the first one never brings it back with the password from the environment.

        :raises ConfigurationError: either variable is missing, or (outside development)
            the password is empty or a placeholder.
        """
        if settings is None:
            from airflow_provider_typecheck.settings import get_settings

            settings = get_settings()
        if not settings.first_admin_username or settings.first_admin_password is None:
            raise ConfigurationError(
                "TYPECHECK_FIRST_ADMIN_USERNAME and TYPECHECK_FIRST_ADMIN_PASSWORD must be set"
            )
        # The settings refuse placeholders outside development; an empty password is
        # refused here too, since development or not it would lock nobody out.
        password = settings.first_admin_password.get_secret_value()
        if not password.strip():
            raise ConfigurationError("TYPECHECK_FIRST_ADMIN_PASSWORD is empty")
        try:
            admin = UserCreate(username=settings.first_admin_username, password=password, role="admin")
        except ValidationError as exc:
            # The models hide their input in errors: the message never holds the password.
            raise ConfigurationError(f"the first admin from the settings is not a valid user: {exc}") from None
        hashed = security.hash_password(password)
        with self._connect() as conn, conn.cursor() as cur:
            # The same lock as updates and deletes: two processes starting at once, or a
            # start racing the deletion of the last admin, cannot both see "no admin".
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"typecheck:users:{self.schema}",))
            cur.execute(f"SELECT 1 FROM {self._table} WHERE role = 'admin' LIMIT 1")
            if cur.fetchone() is not None:
                conn.rollback()
                return None
            try:
                cur.execute(
                    f"INSERT INTO {self._table} (username, hashed_password, role) VALUES (%s, %s, 'admin')"
                    f" RETURNING {_COLUMNS}",
                    (admin.username, hashed),
                )
            except Exception as exc:
                if _is_unique_violation(exc):
                    raise ConfigurationError(
                        f"no admin exists, and TYPECHECK_FIRST_ADMIN_USERNAME {admin.username!r} is taken by a user"
                    ) from None
                raise
            created = _row_to_user(cur.fetchone()).public()
            conn.commit()
        log.info("Created the first admin user %s", created.username)
        return created
