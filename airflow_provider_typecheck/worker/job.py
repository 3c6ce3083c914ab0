"""One job, from a delivered message to its final status: everything but the broker.

:class:`JobRunner` decides what becomes of a delivery and does the work; the consumer
(:mod:`.consumer`) then carries out the returned :class:`Outcome` on the broker
(announce, then ack; or dead-letter; or requeue). Status writes that meet a Redis outage
are retried for ``worker_redis_retry_seconds``; past that the job is requeued, never lost.

Poison means "it kills workers": a job is failed and dead-lettered once workers *died*
running it ``poison_worker_deaths`` times (runs whose lease ran out without a finish or a
release, counted in Redis by :meth:`TaskStatusStore.claim`). Lost connections, broker
restarts and SIGTERM requeues do not count; the broker's delivery limit stays a high
backstop. A redelivered job whose holder has no heartbeat left is taken over at once.

A CSV larger than ``split_bytes`` is not run whole: its run plans byte ranges, records
them, and its outcome publishes one part job (contract v2) per range; :mod:`.parts` runs
the parts and merges their reports.
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
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_typecheck.jobs.contract import (
    InvalidJob,
    ValidationEvent,
    ValidationJob,
    ValidationPartJob,
    parse_job,
)
from airflow_provider_typecheck.registry.errors import (
    IllegalTransition,
    SchemaNotFound,
    TaskExists,
    TaskNotFound,
)
from airflow_provider_typecheck.registry.models import FINISHED_STATES, TaskState, TaskStatus
from airflow_provider_typecheck.worker.outcomes import (
    PROGRESS_INTERVAL_SECONDS,
    JobFailed,
    JobRun,
    LeaseKeeper,
    Outcome,
    RedisUnavailable,
    StopJob,
    event_of,
)

if TYPE_CHECKING:
    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.metrics import WorkerMetrics
    from airflow_provider_typecheck.registry.parts import PartStore
    from airflow_provider_typecheck.registry.results import ValidationSummary
    from airflow_provider_typecheck.registry.schemas import SchemaStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.settings import TypecheckSettings
    from airflow_provider_typecheck.validation.limits import Limits
    from airflow_provider_typecheck.validation.report import ValidationReport

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class JobRunner:
    """
    Runs jobs for one worker process; safe to use from several job threads at once.

    :param limits: the core's limits (the settings', as everywhere: ``services.limits``).
    :param interrupt: set when the worker must stop; a job still running when the grace
        period ends stops at its next progress point and is requeued.
    :param parts: where split files' parts are recorded; without it no file is split
        (and a part job is failed).
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
        metrics: WorkerMetrics | None = None,
        parts: PartStore | None = None,
    ) -> None:
        from airflow_provider_typecheck.metrics import PeakRss
        from airflow_provider_typecheck.worker.parts import PartRunner

        self.settings = settings
        self.tasks = tasks
        self.schemas = schemas
        self.files = files
        self.limits = limits
        self.interrupt = interrupt
        self.metrics = metrics
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        # The queue's own limit when it was declared with another than the settings' (the consumer sets it).
        self.delivery_limit = settings.delivery_limit
        self.peak_rss = PeakRss()
        self.parts = None if parts is None else PartRunner(self, parts)

    # --- deciding -------------------------------------------------------------------

    def handle(self, body: bytes, delivery_count: int, *, redelivered: bool = False) -> Outcome:
        """
        Turn one delivery into an :class:`Outcome` (never raises for a bad job).

        :param redelivered: the broker redelivered the message (its last holder's connection
            closed), so a holder without a live heartbeat is known gone.
        """
        try:
            job = parse_job(body)
        except InvalidJob as err:
            log.error("dead-lettering a message that is not a job: %s", err.reason)
            if err.task_id is not None:
                self.fail_quietly(err.task_id, f"the job message was refused: {err.reason}")
            return Outcome("dead_letter", reason=err.reason)
        started = time.monotonic()
        try:
            if isinstance(job, ValidationPartJob):
                if self.parts is None:
                    raise RuntimeError("this worker runs no parts of split files (it has no part store)")
                outcome = self.parts.handle(job, delivery_count, redelivered or delivery_count > 0)
            else:
                outcome = self._handle(job, delivery_count, redelivered or delivery_count > 0)
        except RedisUnavailable as err:
            log.warning("task %s: requeued: %s", job.task_id, err)
            outcome = Outcome("requeue", reason=str(err))
        except Exception as err:
            # A bug must end the task with a message, not loop the job through the queue.
            log.exception("task %s: the worker failed", job.task_id)
            message = f"the worker failed: {type(err).__name__}: {err}"
            self.fail_quietly(str(job.task_id), message)
            outcome = Outcome("ack", event=self.final_event(str(job.task_id)),
                              run=JobRun(seconds=time.monotonic() - started))
        self._report(job, outcome, time.monotonic() - started)
        return outcome

    def _report(self, job: ValidationJob, outcome: Outcome, seconds: float) -> None:
        """The job's one INFO line, and its metrics (a redelivery of a finished job reports nothing)."""
        if outcome.action == "requeue":
            state = "requeued"
        elif outcome.note is not None and outcome.event is None and outcome.action == "ack":
            state = outcome.note  # a split, or a part done: the task goes on
        elif outcome.run is None and (outcome.action == "ack" or outcome.event is None):
            return  # finished by an earlier delivery: it was reported then
        else:
            state = outcome.event.state if outcome.event is not None else "dead-lettered"
        run = outcome.run or JobRun(seconds=seconds)
        where = f" {job.part.label}" if isinstance(job, ValidationPartJob) else ""
        log.info(
            "job %s%s: import=%s rows=%s invalid=%s duration=%.3fs state=%s", job.task_id, where, job.import_name,
            "-" if run.rows is None else run.rows, "-" if run.invalid is None else run.invalid, run.seconds, state,
            extra={"task_id": str(job.task_id), "import_name": job.import_name, "rows": run.rows,
                   "invalid_rows": run.invalid, "duration_seconds": round(run.seconds, 3), "state": state},
        )
        if self.metrics is None:
            return
        if state == "requeued":
            self.metrics.jobs_requeued.inc()
        elif outcome.event is not None:
            self.metrics.job_finished(outcome.event.state, seconds=run.seconds, rows=run.rows, size=run.size,
                                      peak_rss=run.peak_rss)

    def announced(self, task_id: str) -> None:
        """Record that the task's event was confirmed (so a redelivery does not send it again)."""
        self.retry(lambda: self.tasks.mark_announced(task_id))

    def final_event(self, task_id: str) -> ValidationEvent | None:
        try:
            return event_of(self.retry(lambda: self.tasks.get(task_id)))
        except (TaskNotFound, RedisUnavailable):
            return None

    def _handle(self, job: ValidationJob, delivery_count: int, redelivered: bool) -> Outcome:
        if delivery_count < self.delivery_limit:
            return self._claim_and_run(job, redelivered)
        # The broker's backstop: it would dead-letter the next return itself, silently.
        status = self.retry(lambda: self._status_or_recreate(job))
        if status.state in FINISHED_STATES:
            return self.already_finished(status)
        return self._dead_letter(job, f"the job was delivered {delivery_count + 1} times without finishing "
                                      "(the queue's delivery limit)")

    def _dead_letter(self, job: ValidationJob, reason: str) -> Outcome:
        task_id = str(job.task_id)
        log.error("task %s: %s", task_id, reason)
        failed = self.retry(lambda: self.tasks.cancel(task_id, reason))
        return Outcome("dead_letter", event=event_of(failed), reason=reason)

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
                    submitted_by=job.submitted_by,  # still visible to whoever submitted it
                )
            except TaskExists:
                return self.tasks.get(str(job.task_id))

    def already_finished(self, status: TaskStatus) -> Outcome:
        # Finished by an earlier delivery (or cancelled): no rework. The event is sent
        # again only when the run that finished it could not get it confirmed.
        if self.retry(lambda: self.tasks.is_announced(status.task_id)):
            return Outcome("ack")
        return Outcome("ack", event=event_of(status))

    def _claim_and_run(self, job: ValidationJob, redelivered: bool) -> Outcome:
        task_id = str(job.task_id)
        token = f"{self.name}:{uuid.uuid4().hex[:8]}"
        lease = self.settings.worker_lease_seconds
        deaths = self.settings.poison_worker_deaths
        while True:
            outcome, found = self.retry(lambda: self.tasks.claim(
                task_id, token, lease_seconds=lease, poison_deaths=deaths, redelivered=redelivered))
            if outcome == "claimed":
                claimed: TaskStatus = found
                break
            if outcome == "finished":
                return self.already_finished(found)
            if outcome == "split" and self.parts is not None:
                return self.parts.publish_again(job)  # a redelivered splitter: its parts run
            if outcome == "poison":
                return self._dead_letter(job, f"workers died {deaths} times running the job: "
                                              "taken for a poison message")
            if outcome == "missing":
                self.retry(lambda: self._status_or_recreate(job))
                continue
            # Another live worker runs it (this is a redelivery after a broker hiccup):
            # hold the message until that run finishes, or its lease or its worker's
            # heartbeat runs out.
            if self.interrupt.is_set():
                return Outcome("requeue", reason="the worker is stopping")
            time.sleep(min(1.0, lease / 3))
        renewer = LeaseKeeper(f"task-{task_id[:8]}",
                              lambda: self.tasks.renew_lease(task_id, token, lease_seconds=lease), lease)
        renewer.start()
        try:
            return self._run(job, token, renewer, claimed.file_checksum)
        finally:
            renewer.stop()

    # --- running --------------------------------------------------------------------

    def _run(self, job: ValidationJob, token: str, renewer: LeaseKeeper, checksum: str | None) -> Outcome:
        from airflow_provider_typecheck.registry.results import ValidationSummary

        task_id = str(job.task_id)
        log.info("task %s: validating %s against %s v%s", task_id, job.file_name, job.import_name, job.schema_version)
        started = time.monotonic()
        self.peak_rss.reset()
        try:
            if self.parts is not None:
                split, checksum = self.parts.split(job, token, renewer, checksum, started)
                if split is not None:
                    return split
            report = self.validate(job, _ProgressWriter(self, task_id, renewer), **self._row_outputs(job))
            # An upload's checksum was taken as its bytes arrived; any other file is read for it once.
            checksum = checksum or self._checksum(job)
        except StopJob as stop:
            return self._stopped(job, token, str(stop))
        except JobFailed as failure:
            outcome = self._finish_failed(job, self.as_uploaded(job, failure.message))
            return replace(outcome, run=JobRun(seconds=time.monotonic() - started, peak_rss=self.peak_rss.read()))
        except RedisUnavailable:
            self.release_quietly(task_id, token)
            raise
        report_uri = self.files.write_report(task_id, self.served_report(job, report))
        summary = ValidationSummary.of_report(
            report, file_checksum=checksum, schema_version=job.schema_version, report_uri=report_uri,
            timings={"validate": report.elapsed_seconds, "total": time.monotonic() - started},
        )
        try:
            finished = self.retry(lambda: self._finish(job, token, report, summary, report_uri))
        except IllegalTransition:
            # Cancelled (or finished by a run that took over) while the last rows were checked.
            return self.already_finished(self.retry(lambda: self.tasks.get(task_id)))
        run = JobRun(seconds=time.monotonic() - started, rows=report.total_rows, invalid=report.invalid_rows,
                     size=self.size_quietly(job.file_uri), peak_rss=self.peak_rss.read())
        return Outcome("ack", event=event_of(finished), run=run)

    def served_report(self, job: ValidationJob, report: ValidationReport) -> dict[str, Any]:
        """The report as the file store keeps it for users."""
        report_dict = report.to_dict()
        # Reports are served to users: the file is the name it was uploaded under, never the store's path.
        report_dict.update(task_id=str(job.task_id), import_name=job.import_name, schema_version=job.schema_version,
                           file=job.file_name, file_name=job.file_name,
                           warnings=[self.as_uploaded(job, warning) for warning in report.warnings])
        return report_dict

    def size_quietly(self, file_uri: str) -> int | None:
        try:
            return self.files.size(file_uri)
        except Exception:  # noqa: BLE001 - a metric only: the job is done whatever its size
            return None

    def _checksum(self, job: ValidationJob) -> str:
        from airflow_provider_typecheck.jobs.filestore import file_checksum

        try:
            return file_checksum(self.files.local_path(job.file_uri) or job.file_uri)
        except Exception as err:  # noqa: BLE001 - the file went away after it was validated
            raise JobFailed(f"the file {job.file_uri} cannot be read for its checksum: {err}") from None

    def as_uploaded(self, job: ValidationJob, message: str) -> str:
        """``message`` with the file store's path and URI of the file replaced by its uploaded name."""
        for where in filter(None, (job.file_uri, self.files.local_path(job.file_uri))):
            message = message.replace(str(where), job.file_name or "the file")
        return message

    def _row_outputs(self, job: ValidationJob) -> dict[str, str]:
        """Where the whole file's row outputs go, as ``validate_file`` takes them."""
        task_id = str(job.task_id)
        wanted = {"invalid_out": job.options.write_invalid_rows and self.files.invalid_rows_uri(task_id),
                  "valid_out": job.options.write_valid_rows and self.files.valid_rows_uri(task_id)}
        return {name: self.files.local_path(uri) or uri for name, uri in wanted.items() if uri}

    def source(self, job: ValidationJob) -> tuple[dict[str, Any], str]:
        """
        The job's schema and the file's path or URI, once both are known to be there.

        :raises JobFailed: the schema version was removed, or the file cannot be read.
        """
        try:
            schema = self.retry(lambda: self.schemas.active(job.import_name, job.schema_version)).schema
        except SchemaNotFound:
            raise JobFailed(
                f"schema version {job.schema_version} of {job.import_name!r} does not exist (was it removed?)"
            ) from None
        source = self.files.local_path(job.file_uri) or job.file_uri
        try:
            readable = self.files.exists(job.file_uri)
        except Exception as err:  # noqa: BLE001 - any filesystem's failure to look is the same answer
            raise JobFailed(f"the file {job.file_uri} cannot be reached: {err}") from None
        if not readable:
            raise JobFailed(f"the file {job.file_uri} does not exist (or is not a regular file)")
        return schema, source

    def validate(self, job: ValidationJob, progress: Callable[[int, int | None], None], *, part: Any = None,
                  invalid_out: str | None = None, valid_out: str | None = None) -> ValidationReport:
        """Validate the job's file (or ``part`` of it: a core ``FilePart``), writing the row outputs named."""
        from airflow_provider_typecheck.validation import compile_schema, validate_file
        from airflow_provider_typecheck.validation.errors import TypecheckError

        task_id = str(job.task_id)
        schema, source = self.source(job)
        options = job.options
        kwargs: dict[str, Any] = {"sheet": options.sheet, "delimiter": options.delimiter,
                                  "max_errors": options.max_errors, "encoding": options.encoding,
                                  **options.table_options()}
        if invalid_out or valid_out:
            self.files.prepare_outputs()
        kwargs.update((name, out) for name, out in (("invalid_out", invalid_out), ("valid_out", valid_out)) if out)
        if part is not None:
            kwargs["part"] = part
        limits = self.limits
        try:
            compiled = compile_schema(schema, max_bytes=limits.max_schema_bytes, max_depth=limits.max_schema_depth)
            return validate_file(source, compiled, progress=progress, workbook_limits=limits.workbook, **kwargs)
        except TypecheckError as err:
            raise JobFailed(str(err)) from None
        except (StopJob, RedisUnavailable):
            raise
        except Exception as err:
            # A bug or a resource limit, not the file: fail the task rather than loop on it.
            log.exception("task %s: the validation raised", task_id)
            raise JobFailed(f"the worker could not validate the file: {type(err).__name__}: {err}") from None

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
        failed = self.retry(lambda: self.tasks.cancel(task_id, message))
        return Outcome("ack", event=event_of(failed))

    def _stopped(self, job: ValidationJob, token: str, why: str) -> Outcome:
        task_id = str(job.task_id)
        status = self.retry(lambda: self.tasks.get(task_id))
        if status.state in FINISHED_STATES:  # cancelled while it ran
            log.info("task %s: stopped: %s", task_id, why)
            return self.already_finished(status)
        self.release_quietly(task_id, token)
        log.warning("task %s: requeued: %s", task_id, why)
        return Outcome("requeue", reason=why)

    # --- helpers --------------------------------------------------------------------

    def retry(self, write: Callable[[], _T]) -> _T:
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

    def fail_quietly(self, task_id: str, reason: str) -> None:
        try:
            self.retry(lambda: self.tasks.cancel(task_id, reason))
        except (TaskNotFound, RedisUnavailable):
            pass  # nothing recorded under that id, or nowhere to record it: the dead letter remains

    def release_quietly(self, task_id: str, token: str) -> None:
        try:
            self.tasks.release_lease(task_id, token)
        except Exception:  # noqa: BLE001 - the lease expires by itself anyway
            log.debug("could not release the lease of %s", task_id, exc_info=True)


class _ProgressWriter:
    """The core's progress callback: writes at most every 0.5 s, and is where a run can stop."""

    def __init__(self, runner: JobRunner, task_id: str, renewer: LeaseKeeper) -> None:
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
                self.runner.retry(lambda: self.runner.tasks.mark_validating(self.task_id, rows_total=rows_total))
                self.validating = True
            self.runner.retry(lambda: self.runner.tasks.progress(self.task_id, rows_done, rows_total))
        except IllegalTransition as err:
            raise StopJob(f"the task is {err.current} (cancelled)") from None
        except TaskNotFound:
            pass  # Redis lost the status; it is written again when the run finishes
