"""One job, from a delivered message to its final status: everything but the broker.

:class:`JobRunner` decides what becomes of a delivery and does the work; the consumer
(:mod:`.consumer`) then carries out the returned :class:`Outcome` on the broker
(announce, then ack; or dead-letter; or requeue). Status writes that meet a Redis outage
are retried for ``worker_redis_retry_seconds``; past that the job is requeued, never lost.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_typecheck.jobs.contract import InvalidJob, ValidationEvent, ValidationJob, parse_job
from airflow_provider_typecheck.registry.errors import (
    IllegalTransition,
    SchemaNotFound,
    TaskExists,
    TaskNotFound,
)
from airflow_provider_typecheck.registry.models import FINISHED_STATES, TaskState, TaskStatus

if TYPE_CHECKING:
    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.registry.results import ValidationSummary
    from airflow_provider_typecheck.registry.schemas import SchemaStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.settings import TypecheckSettings
    from airflow_provider_typecheck.validation.limits import Limits
    from airflow_provider_typecheck.validation.report import ValidationReport

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.5
_T = TypeVar("_T")


@dataclass(frozen=True)
class Outcome:
    """What the consumer must do with a delivery once the runner is done with it."""

    action: str  # "ack" | "dead_letter" | "requeue"
    event: ValidationEvent | None = None  # announce (with confirm) before acking
    reason: str | None = None  # why it is dead-lettered or requeued


class StopJob(Exception):
    """The run stops at a progress point: cancelled, its lease lost, or the worker stopping."""


class RedisUnavailable(Exception):
    """Status writes kept failing for the whole retry window."""


class JobRunner:
    """
    Runs jobs for one worker process; safe to use from several job threads at once.

    :param limits: the core's limits (the settings', as everywhere: ``services.limits``).
    :param interrupt: set when the worker must stop; a job still running when the grace
        period ends stops at its next progress point and is requeued.
    """

    def __init__(
        self,
        settings: TypecheckSettings,
        *,
        tasks: TaskStatusStore,
        schemas: SchemaStore,
        files: FileStore,
        limits: Limits,
        interrupt: threading.Event,
    ) -> None:
        self.settings = settings
        self.tasks = tasks
        self.schemas = schemas
        self.files = files
        self.limits = limits
        self.interrupt = interrupt
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    # --- deciding -------------------------------------------------------------------

    def handle(self, body: bytes, delivery_count: int) -> Outcome:
        """Turn one delivery into an :class:`Outcome` (never raises for a bad job)."""
        try:
            job = parse_job(body)
        except InvalidJob as err:
            log.error("dead-lettering a message that is not a job: %s", err.reason)
            if err.task_id is not None:
                self._fail_quietly(err.task_id, f"the job message was refused: {err.reason}")
            return Outcome("dead_letter", reason=err.reason)
        task_id = str(job.task_id)
        try:
            return self._handle(job, delivery_count)
        except RedisUnavailable as err:
            log.warning("task %s: requeued: %s", task_id, err)
            return Outcome("requeue", reason=str(err))
        except Exception as err:
            # A bug must end the task with a message, not loop the job through the queue.
            log.exception("task %s: the worker failed", task_id)
            message = f"the worker failed: {type(err).__name__}: {err}"
            self._fail_quietly(task_id, message)
            return Outcome("ack", event=self._final_event(task_id))

    def announced(self, task_id: str) -> None:
        """Record that the task's event was confirmed (so a redelivery does not send it again)."""
        self._retry(lambda: self.tasks.mark_announced(task_id))

    def _final_event(self, task_id: str) -> ValidationEvent | None:
        try:
            return _event(self._retry(lambda: self.tasks.get(task_id)))
        except (TaskNotFound, RedisUnavailable):
            return None

    def _handle(self, job: ValidationJob, delivery_count: int) -> Outcome:
        if delivery_count < self.settings.delivery_limit:
            return self._claim_and_run(job)
        task_id = str(job.task_id)
        status = self._retry(lambda: self._status_or_recreate(job))
        if status.state in FINISHED_STATES:
            return self._already_finished(status)
        reason = (
            f"the job was delivered {delivery_count + 1} times and its worker died or stopped "
            "every time: taken for a poison message"
        )
        log.error("task %s: %s", task_id, reason)
        failed = self._retry(lambda: self.tasks.cancel(task_id, reason))
        return Outcome("dead_letter", event=_event(failed), reason=reason)

    def _status_or_recreate(self, job: ValidationJob) -> TaskStatus:
        # A status lost with a Redis restart (or expired) is recorded again: the job
        # itself is the source of truth for what to do.
        try:
            return self.tasks.get(str(job.task_id))
        except TaskNotFound:
            log.warning("task %s had no status (expired, or lost by Redis): recording it again", job.task_id)
            try:
                return self.tasks.create(
                    task_id=str(job.task_id),
                    import_name=job.import_name,
                    file_name=job.file_name,
                    schema_version=job.schema_version,
                )
            except TaskExists:
                return self.tasks.get(str(job.task_id))

    def _already_finished(self, status: TaskStatus) -> Outcome:
        # Finished by an earlier delivery (or cancelled): no rework. The event is sent
        # again only when the run that finished it could not get it confirmed.
        if self._retry(lambda: self.tasks.is_announced(status.task_id)):
            return Outcome("ack")
        return Outcome("ack", event=_event(status))

    def _claim_and_run(self, job: ValidationJob) -> Outcome:
        task_id = str(job.task_id)
        token = f"{self.name}:{uuid.uuid4().hex[:8]}"
        lease = self.settings.worker_lease_seconds
        while True:
            outcome, found = self._retry(lambda: self.tasks.claim(task_id, token, lease_seconds=lease))
            if outcome == "claimed":
                claimed: TaskStatus = found
                break
            if outcome == "finished":
                return self._already_finished(found)
            if outcome == "missing":
                self._retry(lambda: self._status_or_recreate(job))
                continue
            # Another live worker runs it (this is a redelivery after a broker hiccup):
            # hold the message until that run finishes or its lease runs out.
            if self.interrupt.is_set():
                return Outcome("requeue", reason="the worker is stopping")
            time.sleep(min(1.0, lease / 3))
        renewer = _LeaseRenewer(self, task_id, token)
        renewer.start()
        try:
            return self._run(job, token, renewer, claimed.file_checksum)
        finally:
            renewer.stop()

    # --- running --------------------------------------------------------------------

    def _run(self, job: ValidationJob, token: str, renewer: _LeaseRenewer, checksum: str | None) -> Outcome:
        from airflow_provider_typecheck.registry.results import ValidationSummary

        task_id = str(job.task_id)
        log.info("task %s: validating %s against %s v%s", task_id, job.file_name, job.import_name, job.schema_version)
        started = time.perf_counter()
        try:
            report = self._validate(job, renewer)
            # An upload's checksum was taken as its bytes arrived; any other file is read for it once.
            checksum = checksum or self._checksum(job)
        except StopJob as stop:
            return self._stopped(job, token, str(stop))
        except _JobFailed as failure:
            return self._finish_failed(job, failure.message)
        except RedisUnavailable:
            self._release_quietly(task_id, token)
            raise
        report_dict = report.to_dict()
        report_dict.update(task_id=task_id, import_name=job.import_name, schema_version=job.schema_version,
                           file_uri=job.file_uri, file_name=job.file_name)
        report_uri = self.files.write_report(task_id, report_dict)
        summary = ValidationSummary.of_report(
            report, file_checksum=checksum, schema_version=job.schema_version, report_uri=report_uri,
            timings={"validate": report.elapsed_seconds, "total": time.perf_counter() - started},
        )
        try:
            finished = self._retry(lambda: self._finish(job, token, report, summary, report_uri))
        except IllegalTransition:
            # Cancelled (or finished by a run that took over) while the last rows were checked.
            return self._already_finished(self._retry(lambda: self.tasks.get(task_id)))
        log.info("task %s: %s (%d rows, %d invalid)", task_id, finished.state.value, report.total_rows,
                 report.invalid_rows)
        return Outcome("ack", event=_event(finished))

    def _checksum(self, job: ValidationJob) -> str:
        from airflow_provider_typecheck.jobs.filestore import file_checksum

        try:
            return file_checksum(self.files.local_path(job.file_uri) or job.file_uri)
        except Exception as err:  # noqa: BLE001 - the file went away after it was validated
            raise _JobFailed(f"the file {job.file_uri} cannot be read for its checksum: {err}") from None

    def _validate(self, job: ValidationJob, renewer: _LeaseRenewer) -> ValidationReport:
        from airflow_provider_typecheck.validation import compile_schema, validate_file
        from airflow_provider_typecheck.validation.errors import TypecheckError

        task_id = str(job.task_id)
        try:
            schema = self._retry(lambda: self.schemas.active(job.import_name, job.schema_version)).schema
        except SchemaNotFound:
            raise _JobFailed(
                f"schema version {job.schema_version} of {job.import_name!r} does not exist (was it removed?)"
            ) from None
        source = self.files.local_path(job.file_uri) or job.file_uri
        try:
            readable = self.files.exists(job.file_uri)
        except Exception as err:  # noqa: BLE001 - any filesystem's failure to look is the same answer
            raise _JobFailed(f"the file {job.file_uri} cannot be reached: {err}") from None
        if not readable:
            raise _JobFailed(f"the file {job.file_uri} does not exist (or is not a regular file)")
        options = job.options
        kwargs: dict[str, Any] = {"sheet": options.sheet, "delimiter": options.delimiter,
                                  "max_errors": options.max_errors, "encoding": options.encoding}
        if options.write_invalid_rows or options.write_valid_rows:
            self.files.prepare_outputs()
        if options.write_invalid_rows:
            kwargs["invalid_out"] = self.files.local_path(self.files.invalid_rows_uri(task_id)) or \
                self.files.invalid_rows_uri(task_id)
        if options.write_valid_rows:
            kwargs["valid_out"] = self.files.local_path(self.files.valid_rows_uri(task_id)) or \
                self.files.valid_rows_uri(task_id)
        progress = _ProgressWriter(self, task_id, renewer)
        limits = self.limits
        try:
            compiled = compile_schema(schema, max_bytes=limits.max_schema_bytes, max_depth=limits.max_schema_depth)
            return validate_file(source, compiled, progress=progress, workbook_limits=limits.workbook, **kwargs)
        except TypecheckError as err:
            raise _JobFailed(str(err)) from None
        except (StopJob, RedisUnavailable):
            raise
        except Exception as err:
            # A bug or a resource limit, not the file: fail the task rather than loop on it.
            log.exception("task %s: the validation raised", task_id)
            raise _JobFailed(f"the worker could not validate the file: {type(err).__name__}: {err}") from None

    def _finish(self, job: ValidationJob, token: str, report: ValidationReport, summary: ValidationSummary,
                report_uri: str) -> TaskStatus:
        task_id = str(job.task_id)

        def finish() -> TaskStatus:
            return self.tasks.finish(task_id, valid=report.is_valid, summary=summary, rows_done=report.total_rows,
                                     rows_total=report.total_rows, report_uri=report_uri)

        try:
            return finish()
        except TaskNotFound:
            # Redis lost the status mid-run (a restart): record it again, then finish it.
            self._status_or_recreate(job)
            self.tasks.claim(task_id, token, lease_seconds=self.settings.worker_lease_seconds)
        except IllegalTransition as err:
            if err.current != TaskState.READING.value:
                raise  # finished meanwhile (cancelled, or by a run that took over)
        self.tasks.mark_validating(task_id)  # the core made no progress call: a small file
        return finish()

    def _finish_failed(self, job: ValidationJob, message: str) -> Outcome:
        task_id = str(job.task_id)
        log.warning("task %s: failed: %s", task_id, message)
        failed = self._retry(lambda: self.tasks.cancel(task_id, message))
        return Outcome("ack", event=_event(failed))

    def _stopped(self, job: ValidationJob, token: str, why: str) -> Outcome:
        task_id = str(job.task_id)
        status = self._retry(lambda: self.tasks.get(task_id))
        if status.state in FINISHED_STATES:  # cancelled while it ran
            log.info("task %s: stopped: %s", task_id, why)
            return self._already_finished(status)
        self._release_quietly(task_id, token)
        log.warning("task %s: requeued: %s", task_id, why)
        return Outcome("requeue", reason=why)

    # --- helpers --------------------------------------------------------------------

    def _retry(self, write: Callable[[], _T]) -> _T:
        """Run a Redis call, retrying through an outage for ``worker_redis_retry_seconds``."""
        from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

        deadline = time.monotonic() + self.settings.worker_redis_retry_seconds
        delay = 0.2
        while True:
            try:
                return write()
            except (ConnectionError, TimeoutError, BusyLoadingError) as err:
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"Redis is unreachable: {err}") from err
                log.warning("Redis is unreachable (%s); retrying in %.1f s", err, delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    def _fail_quietly(self, task_id: str, reason: str) -> None:
        try:
            self._retry(lambda: self.tasks.cancel(task_id, reason))
        except (TaskNotFound, RedisUnavailable):
            pass  # nothing recorded under that id, or nowhere to record it: the dead letter remains

    def _release_quietly(self, task_id: str, token: str) -> None:
        try:
            self.tasks.release_lease(task_id, token)
        except Exception:  # noqa: BLE001 - the lease expires by itself anyway
            log.debug("could not release the lease of %s", task_id, exc_info=True)


class _JobFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _ProgressWriter:
    """The core's progress callback: writes at most every 0.5 s, and is where a run can stop."""

    def __init__(self, runner: JobRunner, task_id: str, renewer: _LeaseRenewer) -> None:
        self.runner = runner
        self.task_id = task_id
        self.renewer = renewer
        self.validating = False
        self.last_write = 0.0

    def __call__(self, rows_done: int, rows_total: int | None) -> None:
        if self.renewer.lost.is_set():
            raise StopJob("its lease was taken by another worker")
        if self.runner.interrupt.is_set():
            raise StopJob("the worker is stopping and its grace period is over")
        now = time.monotonic()
        if self.validating and now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write = now
        try:
            if not self.validating:
                self.runner._retry(lambda: self.runner.tasks.mark_validating(self.task_id, rows_total=rows_total))
                self.validating = True
            self.runner._retry(lambda: self.runner.tasks.progress(self.task_id, rows_done, rows_total))
        except IllegalTransition as err:
            raise StopJob(f"the task is {err.current} (cancelled)") from None
        except TaskNotFound:
            pass  # Redis lost the status; it is written again when the run finishes


class _LeaseRenewer(threading.Thread):
    """Renews a run's lease every third of its length while the run lasts."""

    def __init__(self, runner: JobRunner, task_id: str, token: str) -> None:
        super().__init__(name=f"lease-{task_id[:8]}", daemon=True)
        self.runner = runner
        self.task_id = task_id
        self.token = token
        self.lost = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        lease = self.runner.settings.worker_lease_seconds
        while not self._done.wait(lease / 3):
            try:
                if not self.runner.tasks.renew_lease(self.task_id, self.token, lease_seconds=lease):
                    log.error("task %s: another worker holds its lease now; stopping this run", self.task_id)
                    self.lost.set()
                    return
            except Exception as err:  # noqa: BLE001 - Redis down: nobody can take the lease either
                log.warning("task %s: could not renew its lease: %s", self.task_id, err)

    def stop(self) -> None:
        self._done.set()


def _event(status: TaskStatus) -> ValidationEvent:
    summary = status.summary if status.state is not TaskState.FAILED else {"error": status.error}
    return ValidationEvent(
        task_id=status.task_id,
        import_name=status.import_name,
        schema_version=status.schema_version,
        state=status.state.value,
        summary=summary,
        report_uri=status.report_uri,
    )
