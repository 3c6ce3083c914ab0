"""The records the stores return and accept.

Pydantic models, so the REST API can use them as response models as they are.
User models come in three: ``UserCreate`` and ``UserUpdate`` carry a plain password
in (a ``SecretStr``: hidden in reprs, logs and validation errors), ``UserPublic``
carries nothing secret out; only the store itself ever sees the hash (``UserInDB``,
not for responses, and left out of its repr).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import Enum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

IMPORT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$"
_IMPORT_NAME = re.compile(IMPORT_NAME_PATTERN)
_USERNAME = re.compile(USERNAME_PATTERN)

Role = Literal["admin", "user"]


def is_valid_import_name(name: object) -> bool:
    """Tell whether ``name`` is a legal import name (letters, digits, ``_ . -``; 1 to 128)."""
    return isinstance(name, str) and _IMPORT_NAME.fullmatch(name) is not None


def is_valid_username(name: object) -> bool:
    """Tell whether ``name`` could be a stored username (see ``USERNAME_PATTERN``)."""
    return isinstance(name, str) and _USERNAME.fullmatch(name) is not None


# --- Schema registry ------------------------------------------------------------------


class PutOutcome(str, Enum):
    """What :meth:`SchemaStore.put` did."""

    CREATED = "created"  # first version of a new import name
    NEW_VERSION = "new_version"  # a further version, now active
    REPLACED = "replaced"  # the active version's schema replaced in place (new_version=False)
    UNCHANGED = "unchanged"  # identical to the active schema: nothing written


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SchemaWriter(_Frozen):
    """
    Who writes a schema, for the owner check of :meth:`SchemaStore.put` and ``remove``.

    The user who creates an import name (or revives one whose versions were all
    removed) owns it; further versions, replacement and removal are for its owner and
    admins. A store called without a writer (Airflow's operator, tests) checks nothing.
    """

    user_id: str
    is_admin: bool = False

    def may_change(self, owner: str | None) -> bool:
        return self.is_admin or (owner is not None and owner == self.user_id)


class PutResult(_Frozen):
    import_name: str
    version: int
    outcome: PutOutcome
    draft: str


class SchemaVersion(_Frozen):
    """One stored version of a schema, with the schema itself."""

    import_name: str
    version: int
    schema_: dict[str, Any] = Field(alias="schema")
    draft: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    @property
    def schema(self) -> dict[str, Any]:  # type: ignore[override]
        return self.schema_


class VersionInfo(_Frozen):
    """A version's metadata, without the schema."""

    version: int
    draft: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None


class SchemaStatus(_Frozen):
    import_name: str
    active_version: int
    versions: list[VersionInfo]  # oldest first


class SchemaSummary(_Frozen):
    import_name: str
    active_version: int
    version_count: int
    updated_at: datetime


class SchemaPage(_Frozen):
    items: list[SchemaSummary]
    total: int


class RemoveResult(_Frozen):
    """What :meth:`SchemaStore.remove` did: ``active_version`` is None when the entry is gone."""

    import_name: str
    removed_version: int
    active_version: int | None


# --- Users ----------------------------------------------------------------------------


MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def _password_length(value: SecretStr | None) -> SecretStr | None:
    # Checked here rather than by Field(min_length=...), whose message speaks of "items".
    if value is not None and not MIN_PASSWORD_LENGTH <= len(value.get_secret_value()) <= MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return value


class _UserInput(BaseModel):
    # A refused password must not come back in the error (pydantic echoes the input).
    model_config = ConfigDict(hide_input_in_errors=True)


class UserCreate(_UserInput):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: SecretStr
    role: Role = "user"
    is_active: bool = True

    _check_password = field_validator("password")(_password_length)


class UserUpdate(_UserInput):
    """Only the fields given are changed; the username never changes."""

    password: SecretStr | None = None
    role: Role | None = None
    is_active: bool | None = None

    _check_password = field_validator("password")(_password_length)


class UserPublic(_Frozen):
    id: UUID
    username: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UsersPublic(_Frozen):
    data: list[UserPublic]
    count: int


class UserInDB(UserPublic):
    """The stored user, hash included: internal to the stores, never a response model."""

    hashed_password: str = Field(repr=False)
    # Bumped whenever a token issued before must stop working (see UserStore.user_for_token).
    token_version: int = 0

    def public(self) -> UserPublic:
        return UserPublic.model_validate(self.model_dump(exclude={"hashed_password", "token_version"}))


class TokenPayload(_Frozen):
    """An access token's claims: ``sub`` is the user's id, ``ver`` its token version."""

    sub: str
    role: Role
    ver: int
    exp: int
    iat: int | None = None


# --- Task status ----------------------------------------------------------------------


class TaskState(str, Enum):
    QUEUED = "queued"
    READING = "reading"
    VALIDATING = "validating"
    VALID = "valid"
    INVALID = "invalid"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({TaskState.VALID, TaskState.INVALID, TaskState.FAILED})

# Each state and the states it may move to. ``failed`` is reachable from every
# in-flight state (a crash can happen anywhere); nothing leaves a finished state.
ALLOWED_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.QUEUED: frozenset({TaskState.READING, TaskState.FAILED}),
    TaskState.READING: frozenset({TaskState.VALIDATING, TaskState.FAILED}),
    TaskState.VALIDATING: frozenset({TaskState.VALID, TaskState.INVALID, TaskState.FAILED}),
    TaskState.VALID: frozenset(),
    TaskState.INVALID: frozenset(),
    TaskState.FAILED: frozenset(),
}


class AirflowOrigin(_Frozen):
    """The Airflow task instance that submitted a validation: whose DAG decides who may see it."""

    dag_id: str
    task_id: str
    run_id: str | None = None
    map_index: int = -1


class TaskStatus(_Frozen):
    task_id: str
    import_name: str
    schema_version: int | None = None
    file_name: str
    file_size: int | None = None
    file_checksum: str | None = None  # "sha256:<hex>", when known before the run (an upload)
    state: TaskState
    rows_done: int = 0
    rows_total: int | None = None
    percent: float | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    report_uri: str | None = None
    attempts: int = 0  # runs started by workers (more than one: a worker died or was stopped)
    # A file split across the pool: its parts, and how many are done (None for a file run whole).
    parts_total: int | None = None
    parts_done: int | None = None
    worker: str | None = None  # the run holding (or last holding) the task: host:pid:run
    # Who may see it: the REST user's id, or (from Airflow) "airflow:<dag_id>.<task_id>" with ``airflow``.
    submitted_by: str | None = None
    airflow: AirflowOrigin | None = None

    @field_validator("percent")
    @classmethod
    def _round(cls, value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    @field_validator("airflow", mode="before")
    @classmethod
    def _stored_json(cls, value: Any) -> Any:
        # Kept in the Redis hash as JSON text: every reader of the hash gets the object.
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def visible_to(self, user: UserPublic) -> bool:
        """
        Whether a REST user may see this task, its report and its rows: its submitter and admins.

        Tasks submitted from Airflow are for admins here; Airflow's own pages decide by
        the task's DAG (:attr:`airflow`).
        """
        return user.role == "admin" or (self.submitted_by is not None and self.submitted_by == str(user.id))


# --- Cache ----------------------------------------------------------------------------


class CacheStats(_Frozen):
    keys: int
    hits: int
    misses: int
    hit_rate: float | None  # None before the first lookup
    memory_bytes: int
