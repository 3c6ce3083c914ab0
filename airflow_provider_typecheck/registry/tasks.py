"""Validation task status in Redis.

Key layout (``prefix`` is ``typecheck:`` unless told otherwise)::

    {prefix}task:<task_id>              hash: one task's fields (see TaskStatus)
    {prefix}tasks:import:<import_name>  sorted set: task ids scored by creation time (µs)
    {prefix}tasks:import:<import_name>:by:<submitted_by>
                                        the same, for one submitter's tasks only (what a
                                        user who is not an admin may list)
    {prefix}lease:<task_id>             the run holding the task (expires unless renewed)
    {prefix}stats:tasks                 hash: tasks per state (metrics), moved by every change
    {prefix}workers                     sorted set: live worker processes, scored by when
                                        their heartbeat runs out (ms, Redis' clock)

Every change is one Lua script, so checking the current state and writing the new
one cannot interleave with another writer: a task that has finished can never be
moved back to ``validating`` by a late or duplicated message. Progress never goes
backwards either, whatever order the updates arrive in.

Every write also sets the task's TTL: ``inflight_ttl_seconds`` while it runs (a
crashed worker's task disappears eventually), ``finished_ttl_seconds`` (7 days by
default) once finished. The per-import index lives as long as its newest task and
drops ids whose task has expired, on write and on read.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import (
    IllegalTransition,
    InvalidInput,
    TaskExists,
    TaskNotFound,
)
from airflow_provider_typecheck.registry.models import (
    ALLOWED_TRANSITIONS,
    AirflowOrigin,
    FINISHED_STATES,
    TaskState,
    TaskStatus,
)
from airflow_provider_typecheck.registry.schemas import validate_import_name

if TYPE_CHECKING:
    from redis import Redis

    from airflow_provider_typecheck.registry.results import ValidationSummary

DEFAULT_PREFIX = "typecheck:"
MAX_SUMMARY_BYTES = 64 * 1024  # a summary is counts and a few samples, not the report
_TASK_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
# A user's id, or airflow:<dag_id>.<task_id>: it names a key, so no spaces or braces.
_SUBMITTER = re.compile(r"[A-Za-z0-9_.:@-]{1,600}")

# KEYS: the task, then each index it joins (the import's, and its submitter's in that import).
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'queued', 1)
-- KEYS[3..]: the import's index, and its submitter's.
for i = 3, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[5])
  -- Scores are creation times in microseconds, nudged past the newest so that tasks
  -- created within the same microsecond still list in creation order.
  local score = tonumber(ARGV[2])
  local newest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if newest[2] and score <= tonumber(newest[2]) then
    score = tonumber(newest[2]) + 1
  end
  redis.call('ZADD', KEYS[i], score, ARGV[3])
  if redis.call('TTL', KEYS[i]) < tonumber(ARGV[4]) then
    redis.call('EXPIRE', KEYS[i], ARGV[4])
  end
end
return 1
"""

# Keeps the task's import index alive at least as long as the task (ARGV[1] is the
# index key's prefix, ARGV[2] the task's new TTL). The index key is named from the
# task's own hash, so it is not in KEYS: this store runs on a single Redis, not a cluster.
_KEEP_INDEX = """
local function keep_index(prefix, ttl)
  local import_name = redis.call('HGET', KEYS[1], 'import_name')
  if import_name then
    local index = prefix .. import_name
    if redis.call('TTL', index) < tonumber(ttl) then
      redis.call('EXPIRE', index, ttl)
    end
    local submitter = redis.call('HGET', KEYS[1], 'submitted_by')
    if submitter and redis.call('TTL', index .. ':by:' .. submitter) < tonumber(ttl) then
      redis.call('EXPIRE', index .. ':by:' .. submitter, ttl)
    end
  end
end
"""

# ARGV: index prefix, ttl, target state, " allowed from " (space-padded list), fields to set (pairs).
_TRANSITION = _KEEP_INDEX + """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then
  return {0, ''}
end
if not string.find(ARGV[4], ' ' .. current .. ' ', 1, true) then
  return {-1, current}
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
keep_index(ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], current, -1)
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if ARGV[3] == 'valid' or ARGV[3] == 'invalid' or ARGV[3] == 'failed' then
  redis.call('DEL', KEYS[2])
end
return {1, redis.call('HGETALL', KEYS[1])}
"""

# A worker's claim on a task before it runs the job. KEYS: task, lease, workers, stats.
# ARGV: index prefix, in-flight ttl, claimant token, lease ms, now, worker deaths that
# make poison, '1' when the broker redelivered the job (its holder's connection closed).
# Returns {1, status} when claimed (the task is now 'reading'), {2, status} when the task
# has finished already, {3, holder} while another live worker holds the lease, {4, status}
# when workers died running it as often as makes poison, {5, status} when a run split it
# into parts already (registry/parts.py: its parts run, not the whole file), {0} when
# there is no such task.
# A task left 'reading' or 'validating' by a worker whose lease expired (it died), or
# redelivered while its holder has no heartbeat left (its process is gone too), is taken
# over and starts again from no rows done. The run's 'running' field is cleared only when
# it gives the task back (release): one still set at a take-over is a worker's death.
_CLAIM = _KEEP_INDEX + """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then
  return {0, ''}
end
if current == 'valid' or current == 'invalid' or current == 'failed' then
  return {2, redis.call('HGETALL', KEYS[1])}
end
if redis.call('HEXISTS', KEYS[1], 'parts_total') == 1 then
  return {5, redis.call('HGETALL', KEYS[1])}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[3] then
  local alive = true
  if ARGV[7] == '1' then
    local worker = string.match(holder, '^(.*):[^:]*$')
    local until_ms = worker and redis.call('ZSCORE', KEYS[3], worker)
    local now = redis.call('TIME')
    alive = until_ms and tonumber(until_ms) > tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  end
  if alive then
    return {3, holder}
  end
end
if (current == 'reading' or current == 'validating') and redis.call('HEXISTS', KEYS[1], 'running') == 1 then
  local deaths = redis.call('HINCRBY', KEYS[1], 'worker_deaths', 1)
  if deaths >= tonumber(ARGV[6]) then
    return {4, redis.call('HGETALL', KEYS[1])}
  end
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if current ~= 'queued' then
  redis.call('HDEL', KEYS[1], 'rows_done', 'rows_total', 'percent')
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'reading', 'started_at', ARGV[5], 'updated_at', ARGV[5], 'worker', ARGV[3],
           'running', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
keep_index(ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[4], current, -1)
redis.call('HINCRBY', KEYS[4], 'reading', 1)
return {1, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: lease. ARGV: claimant token, lease ms. 1 if still ours (and extended); 2 if it
# was gone (Redis lost it in a restart) and is ours again; 0 if another run holds it.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""

# Marks a task's event as sent, unless the task is gone (never a hash without a state).
_ANNOUNCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], 'announced_at', ARGV[1])
end
return -1
"""

# KEYS: lease, task. ARGV: claimant token. Drops the lease only if it is that run's, and
# records that the run gave the task back (it did not die running it).
_RELEASE = """
if redis.call('HGET', KEYS[2], 'running') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'running')
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: workers. ARGV: worker name, ms it counts as alive. Drops workers whose heartbeat ran out.
_HEARTBEAT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])  -- the set outlives its longest-lived member, no more
end
return 1
"""

_LIVE_WORKERS = """
local now = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)), '+inf')
"""

# ARGV: index prefix, ttl, rows done, rows total or '', updated_at.
_PROGRESS = _KEEP_INDEX + """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then
  return {0, ''}
end
if current ~= 'reading' and current ~= 'validating' then
  return {-1, current}
end
local done = tonumber(ARGV[3])
if done >= (tonumber(redis.call('HGET', KEYS[1], 'rows_done')) or 0) then
  redis.call('HSET', KEYS[1], 'rows_done', ARGV[3])
else
  done = tonumber(redis.call('HGET', KEYS[1], 'rows_done'))
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'rows_total', ARGV[4])
end
local total = tonumber(redis.call('HGET', KEYS[1], 'rows_total'))
if total and total > 0 then
  redis.call('HSET', KEYS[1], 'percent', string.format('%.2f', math.min(100, done * 100 / total)))
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
keep_index(ARGV[1], ARGV[2])
return {1, redis.call('HGETALL', KEYS[1])}
"""


class TaskStatusStore:
    """
    One status record per validation task.

    :param redis: the composition root's Redis client (the store does not close it).
    :param finished_ttl_seconds: how long a finished task is kept.
    :param inflight_ttl_seconds: how long an unfinished task is kept after its last update.
    :param prefix: key prefix, so the project can share a Redis with Airflow or Celery.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        finished_ttl_seconds: int = 7 * 24 * 3600,
        inflight_ttl_seconds: int = 24 * 3600,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.finished_ttl_seconds = finished_ttl_seconds
        self.inflight_ttl_seconds = inflight_ttl_seconds
        self.prefix = prefix
        self._redis = redis
        # Registering sends nothing: a script is loaded on its first call.
        self._scripts = {
            name: redis.register_script(body)
            for name, body in (
                ("create", _CREATE),
                ("transition", _TRANSITION),
                ("progress", _PROGRESS),
                ("claim", _CLAIM),
                ("renew", _RENEW),
                ("release", _RELEASE),
                ("announce", _ANNOUNCE),
                ("heartbeat", _HEARTBEAT),
                ("live_workers", _LIVE_WORKERS),
            )
        }

    @property
    def redis(self) -> Redis:
        """The store's Redis client (the upload ledger keeps its keys beside the tasks')."""
        return self._redis

    def ping(self) -> None:
        """Raise unless Redis answers (for health checks)."""
        self._redis.ping()

    def task_key(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}"

    def index_key(self, import_name: str, submitted_by: str | None = None) -> str:
        """The import's index of tasks, or (``submitted_by``) of one submitter's tasks in it."""
        key = f"{self.prefix}tasks:import:{import_name}"
        return key if submitted_by is None else f"{key}:by:{submitted_by}"

    def lease_key(self, task_id: str) -> str:
        return f"{self.prefix}lease:{task_id}"

    @property
    def workers_key(self) -> str:
        return f"{self.prefix}workers"

    @property
    def stats_key(self) -> str:
        return f"{self.prefix}stats:tasks"

    @property
    def _longest_ttl(self) -> int:
        return max(self.finished_ttl_seconds, self.inflight_ttl_seconds)

    # --- writes ---------------------------------------------------------------------

    def create(
        self,
        *,
        import_name: str,
        file_name: str,
        file_size: int | None = None,
        file_checksum: str | None = None,
        schema_version: int | None = None,
        task_id: str | None = None,
        submitted_by: str | None = None,
        airflow: AirflowOrigin | dict[str, Any] | None = None,
    ) -> TaskStatus:
        """
        Record a new task in state ``queued``; ``task_id`` defaults to a random UUID.

        :param submitted_by: who may see it (see :meth:`TaskStatus.visible_to`): a REST
            user's id, or ``airflow:<dag_id>.<task_id>``; also indexed per import.
        :param airflow: the submitting task instance, for Airflow's pages.
        :raises TaskExists: a task with this id is already recorded.
        """
        validate_import_name(import_name)
        task_id = _check_task_id(task_id or uuid.uuid4().hex)
        if submitted_by is not None and not _SUBMITTER.fullmatch(submitted_by):
            raise InvalidInput(f"invalid submitter {submitted_by!r}")
        now = _now()
        status = TaskStatus(
            task_id=task_id,
            import_name=import_name,
            schema_version=schema_version,
            file_name=file_name,
            file_size=file_size,
            file_checksum=file_checksum,
            state=TaskState.QUEUED,
            created_at=now,
            updated_at=now,
            submitted_by=submitted_by,
            airflow=airflow,
        )
        indexes = [self.index_key(import_name)]
        if submitted_by is not None:
            indexes.append(self.index_key(import_name, submitted_by))
        score_us = int(now.timestamp() * 1_000_000)
        oldest_kept_us = score_us - self._longest_ttl * 1_000_000
        created = self._scripts["create"](
            keys=[self.task_key(task_id), self.stats_key, *indexes],
            args=[self.inflight_ttl_seconds, score_us, task_id, self._longest_ttl, oldest_kept_us, *_encode(status)],
        )
        if not created:
            raise TaskExists(f"task {task_id!r} already exists")
        return status

    def transition(
        self,
        task_id: str,
        state: TaskState | str,
        *,
        schema_version: int | None = None,
        rows_done: int | None = None,
        rows_total: int | None = None,
        summary: ValidationSummary | dict[str, Any] | None = None,
        error: str | None = None,
        report_uri: str | None = None,
    ) -> TaskStatus:
        """
        Move a task to ``state`` and set the given fields, atomically.

        Finishing also drops the task's lease: nobody runs a finished task.

        :raises TaskNotFound: no such task (or it expired).
        :raises IllegalTransition: ``state`` cannot follow the current state.
        """
        target = TaskState(state)
        allowed_from = [s.value for s, nexts in ALLOWED_TRANSITIONS.items() if target in nexts]
        now = _now()
        fields: dict[str, Any] = {"updated_at": now.isoformat()}
        if target is TaskState.READING:
            fields["started_at"] = now.isoformat()
        if target in FINISHED_STATES:
            fields["finished_at"] = now.isoformat()
        if schema_version is not None:
            fields["schema_version"] = schema_version
        if rows_done is not None:
            fields["rows_done"] = rows_done
        if rows_total is not None:
            fields["rows_total"] = rows_total
            if rows_done is not None and rows_total > 0:
                fields["percent"] = f"{min(100.0, rows_done * 100 / rows_total):.2f}"
        if target in (TaskState.VALID, TaskState.INVALID):
            fields["percent"] = "100.00"  # every row was read, whatever total was guessed before
        if summary is not None:
            fields["summary"] = _summary_json(summary if isinstance(summary, dict) else summary.stored())
        if error is not None:
            fields["error"] = error
        if report_uri is not None:
            fields["report_uri"] = report_uri
        ttl = self.finished_ttl_seconds if target in FINISHED_STATES else self.inflight_ttl_seconds
        outcome, payload = self._scripts["transition"](
            keys=[self.task_key(task_id), self.lease_key(task_id), self.stats_key],
            args=[self.index_key(""), ttl, target.value, f" {' '.join(allowed_from)} ", *_pairs(fields)],
        )
        return self._result(task_id, target.value, outcome, payload)

    def mark_reading(self, task_id: str, *, schema_version: int | None = None) -> TaskStatus:
        return self.transition(task_id, TaskState.READING, schema_version=schema_version)

    def mark_validating(self, task_id: str, *, rows_total: int | None = None) -> TaskStatus:
        return self.transition(task_id, TaskState.VALIDATING, rows_total=rows_total)

    def finish(
        self,
        task_id: str,
        *,
        valid: bool,
        summary: ValidationSummary | dict[str, Any],
        rows_done: int | None = None,
        rows_total: int | None = None,
        report_uri: str | None = None,
    ) -> TaskStatus:
        """
        Finish as ``valid`` or ``invalid`` with the report's summary
        (a :class:`~.results.ValidationSummary`, or its JSON as a dict).

        ``rows_total`` recorded by :meth:`progress` is kept unless a new one is given.
        """
        state = TaskState.VALID if valid else TaskState.INVALID
        return self.transition(
            task_id, state, summary=summary, rows_done=rows_done, rows_total=rows_total, report_uri=report_uri
        )

    def fail(self, task_id: str, error: str) -> TaskStatus:
        """Finish as ``failed`` (from any unfinished state) with the error's message."""
        return self.transition(task_id, TaskState.FAILED, error=error)

    def cancel(self, task_id: str, reason: str = "cancelled") -> TaskStatus:
        """
        End an unfinished task as ``failed`` with ``reason``; a finished task is left as it is.

        A worker running it stops at its next progress point; one that receives it later
        finds it finished and skips it.

        :raises TaskNotFound: no such task (or it expired).
        """
        try:
            return self.fail(task_id, reason)
        except IllegalTransition:
            return self.get(task_id)

    # --- leases: one live worker per task -------------------------------------------

    def claim(
        self,
        task_id: str,
        token: str,
        *,
        lease_seconds: float,
        poison_deaths: int = 3,
        redelivered: bool = False,
    ) -> tuple[str, TaskStatus | str | None]:
        """
        Take the task for a run identified by ``token`` (``<worker name>:<run>``, kept as
        the status's ``worker``) and move it to ``reading``.

        A run that neither finished nor gave the task back (:meth:`release_lease`) when
        its lease ran out, or, for a ``redelivered`` job, when its worker's heartbeat ran
        out, died with its worker: such deaths are counted in the task's ``worker_deaths``.

        Returns ``("claimed", status)``; ``("finished", status)`` when there is nothing left
        to do; ``("busy", holder)`` while another live run holds the lease; ``("poison",
        status)`` when this makes ``poison_deaths`` deaths (the task is not claimed); or
        ``("missing", None)`` when the task is not recorded (expired, or Redis lost it);
        ``("split", status)`` when a run split the file into parts (see :mod:`.parts`): the
        task is not claimed, its parts run instead.
        """
        outcome, payload = self._scripts["claim"](
            keys=[self.task_key(task_id), self.lease_key(task_id), self.workers_key, self.stats_key],
            args=[self.index_key(""), self.inflight_ttl_seconds, token, _millis(lease_seconds), _now().isoformat(),
                  poison_deaths, "1" if redelivered else "0"],
        )
        if outcome == 0:
            return "missing", None
        if outcome == 3:
            return "busy", _text(payload)
        status = decode_status(dict(zip(payload[::2], payload[1::2], strict=True)))
        return {1: "claimed", 2: "finished", 4: "poison", 5: "split"}[outcome], status

    def worker_deaths(self, task_id: str) -> int:
        """How many runs of the task ended with their worker's death."""
        return int(self._redis.hget(self.task_key(task_id), "worker_deaths") or 0)

    def renew_lease(self, task_id: str, token: str, *, lease_seconds: float) -> bool:
        """Extend the lease of run ``token``; False when another run holds it now."""
        return bool(self._scripts["renew"](keys=[self.lease_key(task_id)], args=[token, _millis(lease_seconds)]))

    def release_lease(self, task_id: str, token: str) -> None:
        """Give up the lease of run ``token`` (a stopped worker), so another may start at once."""
        self._scripts["release"](keys=[self.lease_key(task_id), self.task_key(task_id)], args=[token])

    # --- liveness: which worker processes are alive ---------------------------------

    def heartbeat(self, worker: str, *, alive_seconds: float) -> None:
        """Record that worker process ``worker`` (``host:pid``) is alive for ``alive_seconds`` more."""
        self._scripts["heartbeat"](keys=[self.workers_key], args=[worker, _millis(alive_seconds)])

    def leave(self, worker: str) -> None:
        """A worker that stops says so, rather than counting as alive until its heartbeat runs out."""
        self._redis.zrem(self.workers_key, worker)

    def live_workers(self) -> int:
        """Worker processes whose heartbeat has not run out."""
        return int(self._scripts["live_workers"](keys=[self.workers_key], args=[]))

    def state_counts(self) -> dict[str, int]:
        """
        Tasks per state: unfinished states count the tasks in them now, finished ones every
        task finished since the counts began (they are not lowered when a task expires).
        """
        raw = self._redis.hgetall(self.stats_key)
        counts = {state.value: 0 for state in TaskState}
        for state, count in raw.items():
            if _text(state) in counts:
                counts[_text(state)] = max(0, int(count))
        return counts

    def mark_announced(self, task_id: str) -> None:
        """Record that the task's final event was confirmed by the broker."""
        self._scripts["announce"](keys=[self.task_key(task_id)], args=[_now().isoformat()])

    def is_announced(self, task_id: str) -> bool:
        return bool(self._redis.hexists(self.task_key(task_id), "announced_at"))

    def progress(self, task_id: str, rows_done: int, rows_total: int | None = None) -> TaskStatus:
        """
        Record rows done (and the total once known) while ``reading`` or ``validating``.

        A smaller ``rows_done`` than already recorded is ignored, so late updates are harmless.
        """
        if rows_done < 0 or (rows_total is not None and rows_total < 0):
            raise InvalidInput("row counts cannot be negative")
        outcome, payload = self._scripts["progress"](
            keys=[self.task_key(task_id)],
            args=[
                self.index_key(""),
                self.inflight_ttl_seconds,
                rows_done,
                "" if rows_total is None else rows_total,
                _now().isoformat(),
            ],
        )
        return self._result(task_id, "progress", outcome, payload)

    def _result(self, task_id: str, target: str, outcome: int, payload: Any) -> TaskStatus:
        if outcome == 0:
            raise TaskNotFound(f"no task {task_id!r}")
        if outcome == -1:
            raise IllegalTransition(task_id, _text(payload), target)
        return decode_status(dict(zip(payload[::2], payload[1::2], strict=True)))

    # --- reads ----------------------------------------------------------------------

    def get(self, task_id: str) -> TaskStatus:
        """:raises TaskNotFound: no such task (or it expired)."""
        raw = self._redis.hgetall(self.task_key(task_id))
        if not raw:
            raise TaskNotFound(f"no task {task_id!r}")
        return decode_status(raw)

    def for_import(
        self, import_name: str, *, skip: int = 0, limit: int = 50, submitted_by: str | None = None
    ) -> list[TaskStatus]:
        """
        The tasks of one import name, newest first (expired ones are skipped and unindexed).

        :param submitted_by: only the tasks this submitter recorded.
        """
        validate_import_name(import_name)
        if skip < 0 or limit <= 0:
            raise InvalidInput("need skip >= 0 and limit > 0")
        client = self._redis
        index = self.index_key(import_name, submitted_by)
        ids = [_text(i) for i in client.zrevrange(index, skip, skip + limit - 1)]
        if not ids:
            return []
        pipe = client.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(self.task_key(task_id))
        found: list[TaskStatus] = []
        expired: list[str] = []
        for task_id, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                found.append(decode_status(raw))
            else:
                expired.append(task_id)
        if expired:
            client.zrem(index, *expired)
        return found

    def count_for_import(self, import_name: str, *, submitted_by: str | None = None) -> int:
        """How many tasks of one import name (and submitter) are indexed (expired ones count until next read)."""
        validate_import_name(import_name)
        return int(self._redis.zcard(self.index_key(import_name, submitted_by)))


def _check_task_id(task_id: str) -> str:
    if not _TASK_ID.fullmatch(task_id):
        raise InvalidInput(f"invalid task id {task_id!r}")
    return task_id


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _summary_json(summary: dict[str, Any]) -> str:
    encoded = json.dumps(summary, separators=(",", ":"), allow_nan=False)
    if len(encoded.encode()) > MAX_SUMMARY_BYTES:
        raise InvalidInput(f"summary is larger than {MAX_SUMMARY_BYTES} bytes")
    return encoded


def _pairs(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]


def _encode(status: TaskStatus) -> list[Any]:
    """Hash fields of a status; absent (None) fields are simply not stored."""
    data = status.model_dump(mode="json", exclude_none=True)
    if "summary" in data:
        data["summary"] = _summary_json(data["summary"])
    if "airflow" in data:
        data["airflow"] = json.dumps(data["airflow"], separators=(",", ":"))
    return _pairs(data)


def decode_status(raw: dict[Any, Any]) -> TaskStatus:
    """A status hash (``bytes`` or ``str``, as the client answers) as a :class:`TaskStatus`."""
    data: dict[str, Any] = {_text(k): _text(v) for k, v in raw.items()}
    if "summary" in data:
        data["summary"] = json.loads(data["summary"])
    return TaskStatus.model_validate(data)
