"""Files live as long as their task: the upload ledger, per-user quotas and the sweep.

A task's status expires in Redis (``TYPECHECK_TASK_TTL_SECONDS`` after it finished);
its files in the file store would stay forever. Two Redis hashes tie files to tasks::

    {prefix}files:uploads       upload folder -> task id (written when the upload is queued)
    {prefix}usage:<user id>     task id -> bytes uploaded (what the user's quota counts)

:func:`sweep` deletes ``reports/<task_id>.*`` and ``uploads/<folder>`` once their task
is no longer recorded. A file younger than the grace period is always left alone: an
upload is saved before its task is recorded, and a report written before its task
finishes. Every worker runs the sweep periodically (:func:`start_periodic_sweep`; one
worker at a time, under a Redis lock) and ``typecheck sweep`` runs it once.

The quota counts what a user uploaded for tasks still recorded; a task's reports and
row files are bounded by its upload (the rows) and ``max_errors`` (the report), so they
are not counted again. :meth:`UploadLedger.usage` forgets expired tasks as it reads,
so a quota frees itself even where no sweep runs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from airflow_provider_typecheck.jobs.filestore import FileStore
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.settings import TypecheckSettings

log = logging.getLogger(__name__)


class UploadLedger:
    """
    Which task each upload belongs to, and how much each user has uploaded.

    :param tasks: the task store (its Redis client, prefix and lifetimes).
    """

    def __init__(self, tasks: TaskStatusStore) -> None:
        self.tasks = tasks
        self.uploads_key = f"{tasks.prefix}files:uploads"

    def _redis(self) -> Redis:
        return self.tasks.redis

    def usage_key(self, user_id: str) -> str:
        return f"{self.tasks.prefix}usage:{user_id}"

    def record(self, *, task_id: str, upload_folder: str | None, user_id: str | None, size: int) -> None:
        """Tie a queued task's upload folder to it, and count its bytes against ``user_id``."""
        pipe = self._redis().pipeline(transaction=True)
        if upload_folder is not None:
            pipe.hset(self.uploads_key, upload_folder, task_id)
        if user_id is not None:
            key = self.usage_key(user_id)
            pipe.hset(key, task_id, size)
            # Nobody's usage outlives their newest task.
            pipe.expire(key, max(self.tasks.finished_ttl_seconds, self.tasks.inflight_ttl_seconds) * 2)
        pipe.execute()

    def usage(self, user_id: str) -> int:
        """Bytes ``user_id`` uploaded for tasks still recorded (expired ones are forgotten here)."""
        client = self._redis()
        key = self.usage_key(user_id)
        counted = {_text(task): int(size) for task, size in client.hgetall(key).items()}
        if not counted:
            return 0
        pipe = client.pipeline(transaction=False)
        for task_id in counted:
            pipe.exists(self.tasks.task_key(task_id))
        expired = [task_id for task_id, alive in zip(counted, pipe.execute(), strict=True) if not alive]
        if expired:
            client.hdel(key, *expired)
        return sum(size for task_id, size in counted.items() if task_id not in expired)

    def task_of_upload(self) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in self._redis().hgetall(self.uploads_key).items()}

    def forget_uploads(self, folders: list[str]) -> None:
        if folders:
            self._redis().hdel(self.uploads_key, *folders)


@dataclass(frozen=True)
class SweepResult:
    reports: int  # report and row files deleted
    uploads: int  # upload folders deleted
    bytes: int


def sweep(files: FileStore, tasks: TaskStatusStore, *, grace_seconds: float, dry_run: bool = False) -> SweepResult:
    """
    Delete the uploads and report files of tasks no longer recorded.

    :param grace_seconds: files changed more recently than this are kept whatever their task.
    :param dry_run: count what would go, delete nothing.
    """
    ledger = UploadLedger(tasks)
    client = tasks.redis
    oldest = time.time() - grace_seconds

    def settled(modified: float | None) -> bool:
        return modified is not None and modified <= oldest

    reports = [f for f in files.stored_reports() if settled(f.modified)]
    owners = ledger.task_of_upload()
    uploads = [f for f in files.stored_uploads() if settled(f.modified)]
    task_ids = {_report_task(f.name) for f in reports} | {owners[f.name] for f in uploads if f.name in owners}
    alive = _recorded(client, tasks, sorted(task_ids))

    doomed_reports = [f for f in reports if _report_task(f.name) not in alive]
    # An upload that no task claims was never queued (the publish failed, the API died
    # between saving and queuing): past the grace period it is garbage too.
    doomed_uploads = [f for f in uploads if owners.get(f.name) not in alive]
    if not dry_run:
        for stored in (*doomed_reports, *doomed_uploads):
            files.delete(stored)
        ledger.forget_uploads([f.name for f in doomed_uploads if f.name in owners])
    result = SweepResult(len(doomed_reports), len(doomed_uploads), sum(f.size for f in (*doomed_reports,
                                                                                          *doomed_uploads)))
    return result


def _report_task(file_name: str) -> str:
    # <task_id>.json, <task_id>.invalid.csv, <task_id>.json.<random>.part: task ids hold no dot.
    return file_name.split(".", 1)[0]


def _recorded(client: Redis, tasks: TaskStatusStore, task_ids: list[str]) -> set[str]:
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.exists(tasks.task_key(task_id))
    return {task_id for task_id, alive in zip(task_ids, pipe.execute(), strict=True) if alive}


def start_periodic_sweep(
    settings: TypecheckSettings, stopping: threading.Event, *, tasks: TaskStatusStore, files: FileStore
) -> threading.Thread:
    """
    Run :func:`sweep` every ``TYPECHECK_SWEEP_INTERVAL_SECONDS`` until ``stopping`` is set.

    Of many workers, one sweeps per interval: each run first takes a Redis lock that
    lasts the interval. A failed sweep (Redis or the store unreachable) is logged and
    tried again at the next interval; it never stops the worker.
    """
    interval = settings.sweep_interval_seconds
    lock_key = f"{tasks.prefix}files:sweep-lock"

    def run() -> None:
        while not stopping.wait(interval):
            try:
                if tasks.redis.set(lock_key, "1", nx=True, px=max(1, int(interval * 1000))):
                    result = sweep(files, tasks, grace_seconds=settings.sweep_grace_seconds)
                    if result.reports or result.uploads:
                        log.info("swept %d report file(s) and %d upload(s) of expired tasks (%d bytes)",
                                 result.reports, result.uploads, result.bytes)
            except Exception as err:  # noqa: BLE001 - a service hiccup; the next interval tries again
                log.warning("the periodic sweep of expired files failed: %s", err)

    thread = threading.Thread(target=run, name="typecheck-sweep", daemon=True)
    thread.start()
    return thread


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
