"""The result of a validation task: one typed model, and the one reader of it (sync and async).

:class:`ValidationSummary` is what a finished validation leaves behind, small enough for
the task status in Redis, an XCom and an event: the counts, the errors by column and
keyword, the first errors, the file's checksum, the schema version, where the full
report is, and how long it took. The worker writes it (``TaskStatusStore.finish``) and
the operator's local mode builds the same one; :class:`TaskResults` reads it back for
the trigger, the operator, the REST API and the plugin's views. The full report (every
error) stays in the file store; nothing here reads it.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_typecheck.registry.errors import TaskNotFound
from airflow_provider_typecheck.registry.models import FINISHED_STATES, TaskStatus
from airflow_provider_typecheck.registry.tasks import MAX_SUMMARY_BYTES, decode_status

if TYPE_CHECKING:
    import redis.asyncio

    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.validation.report import ValidationReport

FIRST_ERRORS = 20  # errors kept in a summary; the report has them all
# A summary shares the status hash with the task's other fields: it keeps under half of it.
MAX_STORED_SUMMARY_BYTES = MAX_SUMMARY_BYTES // 2


class ErrorSample(BaseModel):
    """One error as the report writes it: ``row`` counts the header as row 1."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    row: int
    column: str | None = None
    path: str = ""
    keyword: str | None = None
    value: Any = None
    message: str


class ValidationSummary(BaseModel):
    """What a validation task ended with; ``state`` and ``error`` come from its status."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str | None = None
    import_name: str | None = None
    state: Literal["valid", "invalid", "failed"] = "valid"
    error: str | None = None  # why a failed task failed
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    # None when so many columns failed that the counts fit only in the full report.
    errors_by_column: dict[str, dict[str, int]] | None = Field(default_factory=dict)
    first_errors: list[ErrorSample] = Field(default_factory=list)
    errors_truncated: bool = False
    file: str | None = None
    schema_draft: str | None = None
    fallback_keywords: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    file_checksum: str | None = None  # "sha256:<hex>" of the file's bytes
    schema_version: int | None = None
    report_uri: str | None = None
    elapsed_seconds: float = 0.0  # the core's own time
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per step of the caller ("validate", "total")

    @property
    def is_valid(self) -> bool:
        return self.state == "valid"

    @classmethod
    def of_report(
        cls,
        report: ValidationReport,
        *,
        file_checksum: str | None,
        schema_version: int | None,
        report_uri: str | None = None,
        timings: dict[str, float] | None = None,
        first_errors: int = FIRST_ERRORS,
        max_bytes: int = MAX_STORED_SUMMARY_BYTES,
    ) -> ValidationSummary:
        """The summary of the core's report, cut down to fit ``max_bytes`` as JSON."""
        fields: dict[str, Any] = {
            **report.summary(),
            "state": "valid" if report.is_valid else "invalid",
            "first_errors": [error.to_dict() for error in report.errors[:first_errors]],
            "file_checksum": file_checksum,
            "schema_version": schema_version,
            "report_uri": report_uri,
            "timings": {name: round(seconds, 6) for name, seconds in (timings or {}).items()},
        }
        while fields["first_errors"] and _size(fields) > max_bytes:
            fields["first_errors"].pop()
        if _size(fields) > max_bytes:
            # Thousands of columns with errors: the counts stay in the report only.
            fields["errors_by_column"] = None
        return cls.model_validate(fields)

    @classmethod
    def of_status(cls, status: TaskStatus) -> ValidationSummary | None:
        """The result a finished task's status holds; None while it runs."""
        if status.state not in FINISHED_STATES:
            return None
        stored = status.summary or {}
        return cls.model_validate({
            **stored,
            "task_id": status.task_id,
            "import_name": status.import_name,
            "state": status.state.value,
            "error": status.error,
            "schema_version": status.schema_version if status.schema_version is not None
            else stored.get("schema_version"),
            "report_uri": status.report_uri or stored.get("report_uri"),
        })

    def stored(self) -> dict[str, Any]:
        """The JSON the status keeps (its own fields, state and error, are not repeated)."""
        return self.model_dump(mode="json", exclude={"task_id", "import_name", "state", "error"})


def _size(fields: dict[str, Any]) -> int:
    return len(json.dumps(fields, default=str))


class TaskResults:
    """
    The one reader of validation results: :meth:`get` (sync) and :meth:`aget` (async).

    Both return ``None`` while the task runs and raise :class:`TaskNotFound` for a task
    that is unknown or expired.

    :param tasks: the task-status store (its keys and its decoding).
    :param connect_async: builds a ``redis.asyncio`` client answering ``str`` (the
        composition root's ``redis_async``); one is kept per event loop.
    """

    def __init__(self, tasks: TaskStatusStore,
                 connect_async: Callable[[], Awaitable[redis.asyncio.Redis]] | None = None) -> None:
        self.tasks = tasks
        self._connect_async = connect_async
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def get(self, task_id: str) -> ValidationSummary | None:
        return ValidationSummary.of_status(self.tasks.get(task_id))

    def status(self, task_id: str) -> TaskStatus:
        """The task's whole status (its state and progress while it runs)."""
        return self.tasks.get(task_id)

    async def aget(self, task_id: str) -> ValidationSummary | None:
        client = await self._async_client()
        raw = await client.hgetall(self.tasks.task_key(task_id))
        if not raw:
            raise TaskNotFound(f"no task {task_id!r}")
        return ValidationSummary.of_status(decode_status(raw))

    async def aclose(self) -> None:
        """Close the async client of the running event loop (a trigger's ``finally``)."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            if self._connect_async is None:
                raise RuntimeError("this reader was built without an async Redis client")
            client = self._async_clients[loop] = await self._connect_async()
        return client

