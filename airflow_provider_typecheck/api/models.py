"""The REST API's request and response bodies, apart from the stores' records.

The wire format is the seed's: a user's role travels as ``rol``. Keeping these models
apart from :mod:`airflow_provider_typecheck.registry.models` means a field added to a
store (a password hash, a token version) can never leak into a response by accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_typecheck.registry.models import USERNAME_PATTERN, Role, TaskStatus, UserPublic
from airflow_provider_typecheck.registry.results import ErrorSample, ValidationSummary



class ErrorBody(BaseModel):
    """Every error response: ``detail`` is one stable line a script can match on."""

    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For malformed requests: each field that failed and why."
    )


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


# --- users ------------------------------------------------------------------------------


class UserOut(BaseModel):
    username: str
    rol: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: UserPublic) -> UserOut:
        return cls(
            username=user.username,
            rol=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class UsersOut(BaseModel):
    data: list[UserOut]
    count: int


class UserCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=128)
    rol: Role = "user"
    is_active: bool = True


class UserUpdateIn(BaseModel):
    """Only the fields given change; the username never does."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=8, max_length=128)
    current_password: str | None = Field(
        default=None, max_length=128, description="Required to change one's own password."
    )
    rol: Role | None = None
    is_active: bool | None = None


# --- schemas ----------------------------------------------------------------------------


class SchemaUploadOut(BaseModel):
    import_name: str
    version: int
    status: Literal["created", "new_version", "replaced", "unchanged"]


class SchemaVersionOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str | None


class SchemaStatusOut(BaseModel):
    import_name: str
    active_version: int
    versions: list[SchemaVersionOut]


class SchemaEntryOut(BaseModel):
    import_name: str
    active_version: int
    version_count: int
    updated_at: datetime


class SchemaListOut(BaseModel):
    data: list[SchemaEntryOut]
    count: int


class SchemaRemoveOut(BaseModel):
    import_name: str
    status: Literal["rolled_back", "deleted"]
    active_version: int | None


# --- validation -------------------------------------------------------------------------


class ValidationAccepted(BaseModel):
    task_id: str
    state: Literal["queued"] = "queued"
    import_name: str
    schema_version: int


class Progress(BaseModel):
    rows_done: int
    rows_total: int | None
    percent: float | None
    parts_done: int | None = Field(default=None, description="Parts of a file split across the workers that are "
                                   "done (null: the file is validated whole).")
    parts_total: int | None = Field(default=None, description="Parts the file was split into (null: not split).")


class SummaryOut(BaseModel):
    """The counts of a finished task (the task's :class:`~.registry.results.ValidationSummary`, in short)."""

    total_rows: int
    valid_rows: int
    invalid_rows: int
    errors_by_column: dict[str, dict[str, int]] | None


class TaskStatusOut(BaseModel):
    task_id: str
    import_name: str
    schema_version: int | None
    file_name: str
    state: Literal["queued", "reading", "validating", "valid", "invalid", "failed"]
    progress: Progress
    created_at: datetime
    updated_at: datetime
    summary: SummaryOut | None
    errors: list[ErrorSample] = Field(description="The first errors (the report has them all).")
    report_uri: str | None = Field(description="Where the full report is served (this API), once there is one.")
    error: str | None

    @classmethod
    def of(cls, status: TaskStatus, *, report_uri: str | None) -> TaskStatusOut:
        summary = ValidationSummary.of_status(status)
        return cls(
            task_id=status.task_id,
            import_name=status.import_name,
            schema_version=status.schema_version,
            file_name=status.file_name,
            state=status.state.value,
            progress=Progress(rows_done=status.rows_done, rows_total=status.rows_total, percent=status.percent,
                              parts_done=status.parts_done, parts_total=status.parts_total),
            created_at=status.created_at,
            updated_at=status.updated_at,
            summary=None if summary is None or status.summary is None else SummaryOut.model_validate(summary.model_dump()),
            errors=[] if summary is None else summary.first_errors,
            report_uri=report_uri,
            error=status.error,
        )


class TaskListOut(BaseModel):
    data: list[TaskStatusOut]
    count: int


# --- health and cache -------------------------------------------------------------------


class ServiceHealth(BaseModel):
    status: Literal["ok", "down"]
    latency_ms: float
    detail: str | None


class WorkersHealth(BaseModel):
    """Liveness of the job pipeline: ``down`` when jobs wait and no worker is alive to take them."""

    status: Literal["ok", "down"]
    alive: int | None  # worker processes with a live heartbeat; None: Redis did not answer
    jobs_waiting: int | None  # ready in the validation queue; None: RabbitMQ did not answer
    dead_letters: int | None  # in the dead-letter queue


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    services: dict[str, ServiceHealth]
    workers: WorkersHealth | None = None


class SimpleHealth(BaseModel):
    status: Literal["ok"] = "ok"


class CacheStatsOut(BaseModel):
    keys: int
    hits: int
    misses: int
    hit_rate: float | None
    memory_bytes: int
    sample_keys: list[str]


class CacheClearOut(BaseModel):
    cleared: int
