"""One file across the whole pool: split a big CSV into part jobs, run each, merge them.

The path of a split file (see docs/architecture.md):

1. A whole job (contract v1) for a CSV larger than ``split_bytes`` is claimed as any job;
   its run plans byte ranges at row boundaries (the core's ``plan_parts``, one pass, while
   a second thread takes the checksum when the task has none), records the plan in Redis (once: a
   redelivered splitter finds it), moves the task to ``validating`` with its rows and
   parts, and its outcome carries one part job (contract v2) per range. The consumer
   publishes them on the work queue with confirms, then acks the whole job.
2. Any worker takes any part, with a part lease, heartbeat take-over and a per-part death
   count (poison), as whole jobs have (:class:`~.registry.parts.PartStore`). A part writes
   its report and row files under the task in the file store, then records itself done:
   once, whatever the redeliveries.
3. The delivery that completes the last part merges before it acks (under a merge lease):
   the whole file's report, row files and summary, the task's final status, and the one
   ``validation.<state>.<import>`` event, as a whole job ends. A merger that dies leaves
   its message to be redelivered, which sees every part done and merges again.

A part that fails fails the task with its reason, naming the part; the others stop at
their next progress point (the task is no longer ``validating``) or on claim.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow_provider_typecheck.jobs.contract import ValidationJob, ValidationPartJob
from airflow_provider_typecheck.registry.errors import IllegalTransition, TaskNotFound
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
    from airflow_provider_typecheck.registry.parts import PartStore
    from airflow_provider_typecheck.validation.parts import PartPlan
    from airflow_provider_typecheck.worker.job import JobRunner

log = logging.getLogger(__name__)


class PartRunner:
    """The split, part and merge steps of one worker process (its :class:`JobRunner`'s helpers)."""

    def __init__(self, runner: JobRunner, parts: PartStore) -> None:
        self.runner = runner
        self.store = parts
        self.settings = runner.settings

    # --- the splitting run (a whole job) ----------------------------------------------

    def split(self, job: ValidationJob, token: str, renewer: LeaseKeeper, checksum: str | None,
              started: float) -> tuple[Outcome | None, str | None]:
        """
        Split the job's file into part jobs, when it is a CSV larger than ``split_bytes``;
        the outcome is None when it is run whole. The caller holds the task's lease. The
        checksum returned is the file's, when this took it (a file run whole needs it too).

        :raises JobFailed: the schema or the file is not there, or the file cannot be read.
        """
        part_bytes = self.settings.split_bytes
        if part_bytes <= 0 or job.options.sheet is not None:
            return None, checksum
        _, source = self.runner.source(job)
        try:
            size = self.runner.files.size(job.file_uri)
        except Exception:  # noqa: BLE001 - the planner reads the file and says what is wrong with it
            size = None
        if size is not None and size <= part_bytes:
            return None, checksum
        plan, checksum = self._plan(job, source, part_bytes, checksum)
        if plan is None:
            return None, checksum
        task_id = str(job.task_id)
        parts = [part.to_dict() for part in plan.parts]
        recorded = self.runner.retry(lambda: self.store.record_plan(
            task_id, parts, total_rows=plan.total_rows, checksum=checksum))
        renewer.stop()
        self.runner.release_quietly(task_id, token)  # the task's parts run now; its whole run ends here
        if recorded == "finished":  # cancelled while it was planned
            return self.runner.already_finished(self.runner.retry(lambda: self.runner.tasks.get(task_id))), checksum
        log.info("task %s: split %s into %d parts (%d rows)", task_id, job.file_name, len(parts), plan.total_rows)
        if self.runner.metrics is not None:
            self.runner.metrics.splits.inc()
        return Outcome("ack", publish=tuple(ValidationPartJob.of(job, part).to_body() for part in parts),
                       note=f"split into {len(parts)} parts",
                       run=JobRun(seconds=time.monotonic() - started, rows=plan.total_rows, size=size)), checksum

    def _plan(self, job: ValidationJob, source: str, part_bytes: int,
              checksum: str | None) -> tuple[PartPlan | None, str | None]:
        """
        The core's plan of the file, and its checksum: when the task has none, a second
        thread hashes the file while the plan is counted (both release the GIL), so the
        serial pass before any part runs costs the longer of the two, not their sum.
        """
        from concurrent.futures import ThreadPoolExecutor

        from airflow_provider_typecheck.jobs.filestore import file_checksum
        from airflow_provider_typecheck.validation.errors import TypecheckError
        from airflow_provider_typecheck.validation.parts import plan_parts

        options = job.options
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="typecheck-checksum") as hashing:
            digest = None if checksum is not None else hashing.submit(file_checksum, source)
            try:
                plan = plan_parts(source, part_bytes=part_bytes, delimiter=options.delimiter,
                                  encoding=options.encoding, **options.table_options())
            except TypecheckError as err:
                raise JobFailed(str(err)) from None
            if digest is not None:
                try:
                    checksum = digest.result()
                except Exception as err:  # noqa: BLE001 - the file went away while it was read
                    raise JobFailed(f"the file {job.file_uri} cannot be read for its checksum: {err}") from None
        return plan, checksum

    def publish_again(self, job: ValidationJob) -> Outcome:
        """A whole job delivered again after its run split it: publish the parts not done yet."""
        task_id = str(job.task_id)
        plan = self.runner.retry(lambda: self.store.plan(task_id))
        if plan is None:
            return self._lost(job)
        bodies = tuple(ValidationPartJob.of(job, part).to_body() for part in plan.parts
                       if part["index"] not in plan.done)
        log.info("task %s: its split job was delivered again: publishing its %d parts not done", task_id, len(bodies))
        return Outcome("ack", publish=bodies, note=f"{len(bodies)} parts published again")

    # --- a part ------------------------------------------------------------------------

    def handle(self, job: ValidationPartJob, delivery_count: int, redelivered: bool) -> Outcome:
        """One delivery of a part job: run it, or find it done (and merge if it was the last)."""
        task_id, index = str(job.task_id), job.part.index
        if delivery_count >= self.runner.delivery_limit:
            return self._fail(job, None, f"{job.part.label} was delivered {delivery_count + 1} times without "
                                         "finishing (the queue's delivery limit)", dead_letter=True)
        token = f"{self.runner.name}:{uuid.uuid4().hex[:8]}"
        lease = self.settings.worker_lease_seconds
        deaths = self.settings.poison_worker_deaths
        while True:
            outcome, found = self.runner.retry(lambda: self.store.claim(
                task_id, index, token, lease_seconds=lease, poison_deaths=deaths, redelivered=redelivered))
            if outcome == "claimed":
                break
            if outcome == "finished":
                return self._finished(job, token, redelivered)
            if outcome == "done":
                done, count = found
                if done == count:  # its run (or the merger) died before the merge ended
                    return self._merge(job, token, redelivered)
                return Outcome("ack", note=f"{job.part.label} done already")
            if outcome == "poison":
                return self._fail(job, token, f"workers died {found} times running {job.part.label}: "
                                              "taken for a poison message", dead_letter=True)
            if outcome == "missing":
                return self._lost(job)
            if self.runner.interrupt.is_set():
                return Outcome("requeue", reason="the worker is stopping")
            time.sleep(min(1.0, lease / 3))
        keeper = LeaseKeeper(f"part-{task_id[:8]}-{index}",
                             lambda: self.store.renew(task_id, index, token, lease_seconds=lease), lease)
        keeper.start()
        try:
            return self._run(job, token, keeper)
        finally:
            keeper.stop()

    def _run(self, job: ValidationPartJob, token: str, keeper: LeaseKeeper) -> Outcome:
        runner, files = self.runner, self.runner.files
        task_id, index = str(job.task_id), job.part.index
        log.info("task %s: validating %s of %s against %s v%s", task_id, job.part.label, job.file_name,
                 job.import_name, job.schema_version)
        started = time.monotonic()
        runner.peak_rss.reset()
        outputs = {"invalid_out": job.options.write_invalid_rows and files.part_invalid_rows_uri(task_id, index),
                   "valid_out": job.options.write_valid_rows and files.part_valid_rows_uri(task_id, index)}
        try:
            report = runner.validate(
                job, _PartProgress(self, job, keeper), part=job.part.file_part(),
                **{name: files.local_path(uri) or uri for name, uri in outputs.items() if uri})
            files.write_part_report(task_id, index, report.to_dict())
        except StopJob as stop:
            return self._stopped(job, token, str(stop))
        except JobFailed as failure:
            return self._fail(job, token, f"{job.part.label}: {runner.as_uploaded(job, failure.message)}")
        except RedisUnavailable:
            self._release_quietly(job, token)
            raise
        run = JobRun(seconds=time.monotonic() - started, rows=report.total_rows, invalid=report.invalid_rows,
                     peak_rss=runner.peak_rss.read())
        try:
            done, count = runner.retry(lambda: self.store.done(task_id, index, token, rows=report.total_rows))
        except IllegalTransition:
            return self._finished(job, token, False)
        except TaskNotFound:
            return self._lost(job)
        if runner.metrics is not None:
            runner.metrics.parts_validated.inc()
        if done < count:
            return Outcome("ack", run=run, note=f"part done ({done} of {count})")
        return self._merge(job, token, False)

    def _stopped(self, job: ValidationPartJob, token: str, why: str) -> Outcome:
        status = self.runner.retry(lambda: self.runner.tasks.get(str(job.task_id)))
        if status.state.finished:  # failed by another part, or cancelled
            log.info("task %s: %s stopped: %s", job.task_id, job.part.label, why)
            return self._finished(job, token, False)
        self._release_quietly(job, token)
        log.warning("task %s: %s requeued: %s", job.task_id, job.part.label, why)
        return Outcome("requeue", reason=why)

    # --- the merge ---------------------------------------------------------------------

    def _merge(self, job: ValidationPartJob, token: str, redelivered: bool) -> Outcome:
        task_id = str(job.task_id)
        lease = self.settings.worker_lease_seconds
        while True:
            holder = self.runner.retry(lambda: self.store.take_lease(
                task_id, "merge", token, lease_seconds=lease, redelivered=redelivered))
            if holder is None:
                break
            if self.runner.retry(lambda: self.runner.tasks.get(task_id)).state.finished:
                return self._finished(job, token, redelivered)
            if self.runner.interrupt.is_set():
                return Outcome("requeue", reason="the worker is stopping")
            time.sleep(min(1.0, lease / 3))  # another run merges; its end (or death) is waited for
        keeper = LeaseKeeper(f"merge-{task_id[:8]}",
                             lambda: self.store.renew_lease(task_id, "merge", token, lease_seconds=lease), lease)
        keeper.start()
        try:
            return self._merge_held(job, token)
        finally:
            keeper.stop()
            try:
                self.store.drop_lease(task_id, "merge", token)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.debug("could not drop the merge lease of %s", task_id, exc_info=True)

    def _merge_held(self, job: ValidationPartJob, token: str) -> Outcome:
        from airflow_provider_typecheck.jobs.filestore import ReportNotFound
        from airflow_provider_typecheck.registry.results import ValidationSummary
        from airflow_provider_typecheck.validation.parts import merge_reports, merge_row_files
        from airflow_provider_typecheck.validation.report import ValidationReport

        runner, files = self.runner, self.runner.files
        task_id = str(job.task_id)
        status = runner.retry(lambda: runner.tasks.get(task_id))
        if status.state.finished:
            return self._finished(job, token, False)
        plan = runner.retry(lambda: self.store.plan(task_id))
        if plan is None:
            return self._lost(job)
        merging = time.monotonic()
        try:
            reports = [ValidationReport.from_dict(files.read_part_report(task_id, i)) for i in range(plan.count)]
        except ReportNotFound as err:
            return self._fail(job, token, f"the split file cannot be merged: {err} (the file store lost it)")
        merged = merge_reports(reports, max_errors=job.options.max_errors)
        began = status.started_at or plan.planned_at or datetime.now(timezone.utc)
        merged.elapsed_seconds = max(0.0, (datetime.now(timezone.utc) - began).total_seconds())
        for wanted, part_uri, whole_uri in (
            (job.options.write_invalid_rows, files.part_invalid_rows_uri, files.invalid_rows_uri),
            (job.options.write_valid_rows, files.part_valid_rows_uri, files.valid_rows_uri),
        ):
            if wanted:
                files.prepare_outputs()
                merge_row_files([self._path(part_uri(task_id, i)) for i in range(plan.count)],
                                self._path(whole_uri(task_id)))
        report_uri = files.write_report(task_id, runner.served_report(job, merged))
        timings = {"validate": sum(report.elapsed_seconds for report in reports),
                   "merge": time.monotonic() - merging, "total": merged.elapsed_seconds}
        if plan.planned_at is not None and status.started_at is not None:
            timings["split"] = max(0.0, (plan.planned_at - status.started_at).total_seconds())
        summary = ValidationSummary.of_report(merged, file_checksum=plan.checksum or status.file_checksum,
                                              schema_version=job.schema_version, report_uri=report_uri,
                                              timings=timings)
        lease = self.settings.worker_lease_seconds
        runner.retry(lambda: self.store.take_lease(task_id, "announce", token, lease_seconds=lease, force=True))
        try:
            finished = runner.retry(lambda: runner.tasks.finish(
                task_id, valid=merged.is_valid, summary=summary, rows_done=merged.total_rows,
                rows_total=merged.total_rows, report_uri=report_uri))
        except IllegalTransition:  # cancelled while it merged
            return self._finished(job, token, False)
        log.info("task %s: merged %d parts of %s", task_id, plan.count, job.file_name)
        self._forget_parts(task_id, plan.count)
        if runner.metrics is not None:
            runner.metrics.merges.inc()
        return Outcome("ack", event=event_of(finished),
                       run=JobRun(seconds=merged.elapsed_seconds, rows=merged.total_rows, invalid=merged.invalid_rows,
                                  size=runner.size_quietly(job.file_uri)))

    def _path(self, uri: str) -> str:
        return self.runner.files.local_path(uri) or uri

    def _forget_parts(self, task_id: str, count: int) -> None:
        try:
            self.runner.files.delete_parts(task_id, count)
            self.store.forget(task_id)
        except Exception as err:  # noqa: BLE001 - the sweep deletes them with the task's files
            log.warning("task %s: could not delete its parts' files: %s", task_id, err)

    # --- ends --------------------------------------------------------------------------

    def _finished(self, job: ValidationJob, token: str, redelivered: bool) -> Outcome:
        """
        The task finished without this delivery (failed by a part, cancelled, merged): ack,
        with the task's event only if nobody sent it, and only one of the parts sends it.
        """
        task_id = str(job.task_id)
        if isinstance(job, ValidationPartJob):
            self._release_quietly(job, token)
        lease = self.settings.worker_lease_seconds
        while True:
            if self.runner.retry(lambda: self.runner.tasks.is_announced(task_id)):
                return Outcome("ack")
            holder = self.runner.retry(lambda: self.store.take_lease(
                task_id, "announce", token, lease_seconds=lease, redelivered=redelivered))
            if holder is None:
                status = self.runner.retry(lambda: self.runner.tasks.get(task_id))
                if not status.state.finished:  # a merger died between its lease and its final status
                    self.store.drop_lease(task_id, "announce", token)
                    return Outcome("requeue", reason="the task is not finished yet")
                return Outcome("ack", event=event_of(status))
            if self.runner.interrupt.is_set():
                return Outcome("requeue", reason="the worker is stopping")
            time.sleep(min(1.0, lease / 3))  # another run is sending it: wait for its confirm (or its death)

    def _fail(self, job: ValidationPartJob, token: str | None, reason: str, *, dead_letter: bool = False) -> Outcome:
        """Fail the whole task with ``reason`` (one part failed); this run sends its one event."""
        task_id = str(job.task_id)
        token = token or f"{self.runner.name}:{uuid.uuid4().hex[:8]}"
        lease = self.settings.worker_lease_seconds
        action = "dead_letter" if dead_letter else "ack"
        try:
            if self.runner.retry(lambda: self.store.take_lease(task_id, "announce", token,
                                                                 lease_seconds=lease)) is not None:
                raise IllegalTransition(task_id, "announced", "failed")  # another run ends it
            failed = self.runner.retry(lambda: self.runner.tasks.fail(task_id, reason))
        except IllegalTransition:
            ended = self._finished(job, token, False)
            return Outcome(action, event=ended.event, reason=reason) if ended.action == "ack" else ended
        except TaskNotFound:
            return Outcome(action, reason=reason)
        finally:
            self._release_quietly(job, token)
        log.warning("task %s: failed: %s", task_id, reason)
        return Outcome(action, event=event_of(failed), reason=reason, run=JobRun(seconds=0.0))

    def _lost(self, job: ValidationJob) -> Outcome:
        # Redis lost the task's plan (a restart without persistence, or it expired): the
        # parts cannot be told apart any more; the file has to be submitted again.
        reason = "the plan of the split file was lost (Redis restarted without its data?); submit the file again"
        self.runner.fail_quietly(str(job.task_id), reason)
        return Outcome("ack", event=self.runner.final_event(str(job.task_id)))

    def _release_quietly(self, job: ValidationPartJob, token: str) -> None:
        try:
            self.store.release(str(job.task_id), job.part.index, token)
        except Exception:  # noqa: BLE001 - the lease expires by itself anyway
            log.debug("could not release %s of %s", job.part.label, job.task_id, exc_info=True)


class _PartProgress:
    """The core's progress callback for a part: the task's rows are the sum over its parts."""

    def __init__(self, parts: PartRunner, job: ValidationPartJob, keeper: LeaseKeeper) -> None:
        self.parts = parts
        self.job = job
        self.keeper = keeper
        self.last_write = 0.0

    def __call__(self, rows_done: int, rows_total: int | None) -> None:
        runner = self.parts.runner
        if self.keeper.lost.is_set():
            raise StopJob("its lease was taken by another worker")
        if runner.interrupt.is_set():
            raise StopJob("the worker is stopping and its grace period is over")
        now = time.monotonic()
        if now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write = now
        task_id = str(self.job.task_id)
        try:
            runner.retry(lambda: self.parts.store.progress(task_id, self.job.part.index, rows_done))
        except IllegalTransition as err:
            raise StopJob(f"the task is {err.current} (failed or cancelled)") from None
        except TaskNotFound:
            pass  # Redis lost it: the part's end says so
