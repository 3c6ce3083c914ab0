"""What a delivery's run ends with, and the lease it holds while it runs: shared by whole
jobs (:mod:`.job`) and split files' parts (:mod:`.parts`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_typecheck.jobs.contract import ValidationEvent
from airflow_provider_typecheck.registry.models import TaskState, TaskStatus

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """What the consumer must do with a delivery once the runner is done with it."""

    action: str  # "ack" | "dead_letter" | "requeue"
    event: ValidationEvent | None = None  # announce (with confirm) before acking
    reason: str | None = None  # why it is dead-lettered or requeued
    run: JobRun | None = None  # what this delivery's run did (None: nothing was run)
    publish: tuple[bytes, ...] = ()  # jobs to publish (with confirm) before acking: a split file's parts
    note: str | None = None  # what the log line says this delivery did, when no event ends it


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as the per-job log line and the metrics report it."""

    seconds: float
    rows: int | None = None
    invalid: int | None = None
    size: int | None = None
    peak_rss: int | None = None


class StopJob(Exception):
    """The run stops at a progress point: cancelled, its lease lost, or the worker stopping."""


class RedisUnavailable(Exception):
    """Status writes kept failing for the whole retry window."""


class JobFailed(Exception):
    """The file or its schema cannot be validated: the task fails with ``message`` (no retry helps)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def event_of(status: TaskStatus) -> ValidationEvent:
    """The event announcing a finished task."""
    summary = status.summary if status.state is not TaskState.FAILED else {"error": status.error}
    return ValidationEvent(
        task_id=status.task_id,
        import_name=status.import_name,
        schema_version=status.schema_version,
        state=status.state.value,
        summary=summary,
        report_uri=status.report_uri,
    )


class LeaseKeeper(threading.Thread):
    """Renews a lease every third of its length (``renew`` says whether it is still ours)."""

    def __init__(self, name: str, renew: Callable[[], Any], lease_seconds: float) -> None:
        super().__init__(name=f"lease-{name}", daemon=True)
        self.renew = renew
        self.lease_seconds = lease_seconds
        self.lost = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.lease_seconds / 3):
            try:
                if not self.renew():
                    log.error("%s: another worker holds the lease now; stopping this run", self.name)
                    self.lost.set()
                    return
            except Exception as err:  # noqa: BLE001 - Redis down: nobody can take the lease either
                log.warning("%s: could not renew the lease: %s", self.name, err)

    def stop(self) -> None:
        self._done.set()
