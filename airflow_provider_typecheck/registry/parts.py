"""The parts of a file split across the worker pool, in Redis.

Key layout (beside :mod:`.tasks`' keys, same ``prefix``)::

    {prefix}task:<task_id>:parts        hash: the plan and each part's state
        count, total_rows, checksum, plan (JSON: the parts' ranges), planned_at, done
        rows:<i>       rows part i has checked (the most any run of it reported)
        done:<i>       set once part i's report and rows are stored (the run's token)
        running:<i>    the run holding part i, cleared when it gives the part back
        deaths:<i>     runs of part i that ended with their worker's death
        attempts:<i>   runs of part i started
    {prefix}lease:<task_id>:part:<i>    the run holding part i (expires unless renewed)
    {prefix}lease:<task_id>:merge       the run merging the parts' reports
    {prefix}lease:<task_id>:announce    the run sending the task's one event

The task's own hash (:mod:`.tasks`) carries what callers read: ``parts_total``,
``parts_done`` and ``rows_done`` (the sum over parts, never going backwards). Every
change is one Lua script, as in :mod:`.tasks`: recording a part done is idempotent (a
part redone after its worker died is counted once), and says how many are done, so the
run that completes the last one knows it must merge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import IllegalTransition, TaskNotFound
from airflow_provider_typecheck.registry.tasks import _RENEW, DEFAULT_PREFIX

if TYPE_CHECKING:
    from redis import Redis

# Whether the run ``holder`` (``<worker>:<run>``) may still be alive. Only a redelivered
# message (its last holder's connection closed) may judge by the heartbeat (the workers'
# sorted set, as in tasks.py's claim): otherwise the holder counts as alive while its lease lasts.
_HOLDER_ALIVE = """
local function holder_alive(holder, workers_key, redelivered)
  if redelivered ~= '1' then
    return true
  end
  local worker = string.match(holder, '^(.*):[^:]*$')
  local until_ms = worker and redis.call('ZSCORE', workers_key, worker)
  local now = redis.call('TIME')
  return until_ms and tonumber(until_ms) > tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
"""

# The task's rows_done: the sum over parts, raised only (and its percent with it).
_SUM_ROWS = """
local function sum_rows(parts_key, task_key, count)
  local total = 0
  for i = 0, count - 1 do
    total = total + (tonumber(redis.call('HGET', parts_key, 'rows:' .. i)) or 0)
  end
  if total > (tonumber(redis.call('HGET', task_key, 'rows_done')) or 0) then
    redis.call('HSET', task_key, 'rows_done', total)
    local all = tonumber(redis.call('HGET', task_key, 'rows_total'))
    if all and all > 0 then
      redis.call('HSET', task_key, 'percent', string.format('%.2f', math.min(100, total * 100 / all)))
    end
  end
end
"""

_FINISHED = "(state == 'valid' or state == 'invalid' or state == 'failed')"

# KEYS: parts, task, stats. ARGV: ttl, count, total rows, checksum or '', plan JSON, now.
# Records the plan once (a redelivered splitter finds it and keeps it) and moves the task
# from 'reading' to 'validating' with its parts and rows. {1} recorded (or found),
# {2} the task has finished (cancelled meanwhile), {0} no such task.
_RECORD_PLAN = f"""
local state = redis.call('HGET', KEYS[2], 'state')
if not state then
  return 0
end
if {_FINISHED} then
  return 2
end
if redis.call('HEXISTS', KEYS[1], 'count') == 0 then
  redis.call('HSET', KEYS[1], 'count', ARGV[2], 'total_rows', ARGV[3], 'plan', ARGV[5], 'done', 0,
             'planned_at', ARGV[6])
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'checksum', ARGV[4])
  end
  redis.call('HSET', KEYS[2], 'parts_total', ARGV[2], 'parts_done', 0, 'rows_total', ARGV[3])
end
if state == 'reading' then
  redis.call('HSET', KEYS[2], 'state', 'validating', 'updated_at', ARGV[6], 'rows_done', 0, 'percent', '0.00')
  redis.call('HINCRBY', KEYS[3], 'reading', -1)
  redis.call('HINCRBY', KEYS[3], 'validating', 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""

# KEYS: parts, part lease, workers, task. ARGV: index, token, lease ms, deaths that make
# poison, '1' when redelivered, ttl. {1, attempt} claimed; {2} the task has finished;
# {3, holder} another live run holds the part; {4, deaths} poison; {5, done, count} the
# part is done already; {0} no such task or plan.
_CLAIM_PART = _HOLDER_ALIVE + f"""
local state = redis.call('HGET', KEYS[4], 'state')
if not state then
  return {{0}}
end
if {_FINISHED} then
  return {{2}}
end
local count = redis.call('HGET', KEYS[1], 'count')
if not count then
  return {{0}}
end
local i = ARGV[1]
if redis.call('HEXISTS', KEYS[1], 'done:' .. i) == 1 then
  return {{5, tonumber(redis.call('HGET', KEYS[1], 'done')), tonumber(count)}}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] and holder_alive(holder, KEYS[3], ARGV[5]) then
  return {{3, holder}}
end
if redis.call('HEXISTS', KEYS[1], 'running:' .. i) == 1 then
  local deaths = redis.call('HINCRBY', KEYS[1], 'deaths:' .. i, 1)
  if deaths >= tonumber(ARGV[4]) then
    return {{4, deaths}}
  end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts:' .. i, 1)
redis.call('HSET', KEYS[1], 'running:' .. i, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {{1, attempt}}
"""

# KEYS: parts, task. ARGV: index, rows done in the part, ttl, now.
# {1} recorded; {-1, state} the task is no longer validating (failed, cancelled); {0} gone.
_PART_PROGRESS = _SUM_ROWS + """
local state = redis.call('HGET', KEYS[2], 'state')
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
if not state or not count then
  return {0, ''}
end
if state ~= 'validating' then
  return {-1, state}
end
local field = 'rows:' .. ARGV[1]
if tonumber(ARGV[2]) > (tonumber(redis.call('HGET', KEYS[1], field)) or 0) then
  redis.call('HSET', KEYS[1], field, ARGV[2])
end
sum_rows(KEYS[1], KEYS[2], count)
redis.call('HSET', KEYS[2], 'updated_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, ''}
"""

# KEYS: parts, part lease, task. ARGV: index, token, rows of the part, ttl, now.
# Gives the part back, then records it done unless a run did already.
# {1, done, count, newly} recorded (newly: 1 when this call counted it); {2} the task has
# finished; {-1, state} the task is not validating; {0} no such task or plan.
_PART_DONE = _SUM_ROWS + f"""
local i = ARGV[1]
if redis.call('HGET', KEYS[1], 'running:' .. i) == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'running:' .. i)
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
local state = redis.call('HGET', KEYS[3], 'state')
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
if not state or not count then
  return {{0}}
end
if {_FINISHED} then
  return {{2}}
end
if state ~= 'validating' then
  return {{-1, state}}
end
local newly = redis.call('HSETNX', KEYS[1], 'done:' .. i, ARGV[2])
if newly == 1 then
  local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
  redis.call('HSET', KEYS[1], 'rows:' .. i, ARGV[3])
  redis.call('HSET', KEYS[3], 'parts_done', done)
  sum_rows(KEYS[1], KEYS[3], count)
end
redis.call('HSET', KEYS[3], 'updated_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {{1, tonumber(redis.call('HGET', KEYS[1], 'done')), count, newly}}
"""

# KEYS: parts, part lease. ARGV: index, token. The run gives part i back (it did not die).
_RELEASE_PART = """
if redis.call('HGET', KEYS[1], 'running:' .. ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'running:' .. ARGV[1])
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[2])
end
return 0
"""

# KEYS: lease, workers. ARGV: token, lease ms, '1' when redelivered, '1' to take it whoever holds it.
# {1, ''} taken; {3, holder} another live run holds it.
_TAKE_LEASE = _HOLDER_ALIVE + """
local holder = redis.call('GET', KEYS[1])
if ARGV[4] ~= '1' and holder and holder ~= ARGV[1] and holder_alive(holder, KEYS[2], ARGV[3]) then
  return {3, holder}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ''}
"""

# KEYS: lease. ARGV: token. Drops the lease only if it is that run's.
_DROP_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class RecordedPlan:
    """A split task's plan as Redis keeps it."""

    parts: list[dict[str, Any]]  # each a FilePart.to_dict()
    total_rows: int
    checksum: str | None
    done: frozenset[int]  # indexes of the parts done
    planned_at: datetime | None

    @property
    def count(self) -> int:
        return len(self.parts)


class PartStore:
    """
    The parts of split tasks, beside their status (:class:`~.tasks.TaskStatusStore`'s keys).

    :param redis: the composition root's Redis client.
    :param inflight_ttl_seconds: how long a split task's parts are kept after their last change.
    :param prefix: the key prefix, the task store's.
    """

    def __init__(self, redis: Redis, *, inflight_ttl_seconds: int = 24 * 3600, prefix: str = DEFAULT_PREFIX) -> None:
        self.inflight_ttl_seconds = inflight_ttl_seconds
        self.prefix = prefix
        self._redis = redis
        self._scripts = {
            name: redis.register_script(body)
            for name, body in (
                ("record_plan", _RECORD_PLAN),
                ("claim", _CLAIM_PART),
                ("progress", _PART_PROGRESS),
                ("done", _PART_DONE),
                ("release", _RELEASE_PART),
                ("take_lease", _TAKE_LEASE),
                ("renew", _RENEW),
                ("drop_lease", _DROP_LEASE),
            )
        }

    # --- keys -------------------------------------------------------------------------

    def parts_key(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}:parts"

    def task_key(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}"

    def part_lease_key(self, task_id: str, index: int) -> str:
        return f"{self.prefix}lease:{task_id}:part:{index}"

    def lease_key(self, task_id: str, name: str) -> str:
        """A task-wide lease of split tasks: ``merge`` or ``announce``."""
        return f"{self.prefix}lease:{task_id}:{name}"

    @property
    def _workers_key(self) -> str:
        return f"{self.prefix}workers"

    @property
    def _stats_key(self) -> str:
        return f"{self.prefix}stats:tasks"

    # --- the plan ---------------------------------------------------------------------

    def record_plan(self, task_id: str, parts: list[dict[str, Any]], *, total_rows: int,
                    checksum: str | None) -> str:
        """
        Record a task's plan (once: a plan found is kept) and move the task to ``validating``
        with ``parts_total`` and ``rows_total``. Returns ``"recorded"``, or ``"finished"``
        when the task finished meanwhile (cancelled).

        :raises TaskNotFound: no such task.
        """
        outcome = self._scripts["record_plan"](
            keys=[self.parts_key(task_id), self.task_key(task_id), self._stats_key],
            args=[self.inflight_ttl_seconds, len(parts), total_rows, checksum or "",
                  json.dumps(parts, separators=(",", ":")), _now()],
        )
        if outcome == 0:
            raise TaskNotFound(f"no task {task_id!r}")
        return "recorded" if outcome == 1 else "finished"

    def plan(self, task_id: str) -> RecordedPlan | None:
        """The task's recorded plan, or None when it has none (not split, or expired)."""
        raw = {_text(k): _text(v) for k, v in self._redis.hgetall(self.parts_key(task_id)).items()}
        if "plan" not in raw:
            return None
        return RecordedPlan(
            parts=json.loads(raw["plan"]),
            total_rows=int(raw["total_rows"]),
            checksum=raw.get("checksum"),
            done=frozenset(int(k.split(":", 1)[1]) for k in raw if k.startswith("done:")),
            planned_at=datetime.fromisoformat(raw["planned_at"]) if raw.get("planned_at") else None,
        )

    def forget(self, task_id: str) -> None:
        """Drop a merged task's parts (its status keeps parts_total and parts_done)."""
        self._redis.delete(self.parts_key(task_id))

    # --- one part's runs --------------------------------------------------------------

    def claim(self, task_id: str, index: int, token: str, *, lease_seconds: float, poison_deaths: int = 3,
              redelivered: bool = False) -> tuple[str, Any]:
        """
        Take part ``index`` for the run ``token`` (``<worker name>:<run>``).

        Returns ``("claimed", attempt)``; ``("finished", None)`` when the task has finished
        (failed, cancelled, merged); ``("done", (done, count))`` when the part is done
        already; ``("busy", holder)`` while another live run holds it; ``("poison",
        deaths)`` when workers died running it ``poison_deaths`` times; ``("missing",
        None)`` when the task or its plan is not recorded. The rule is the task's
        (:meth:`.TaskStatusStore.claim`), per part.
        """
        reply = self._scripts["claim"](
            keys=[self.parts_key(task_id), self.part_lease_key(task_id, index), self._workers_key,
                  self.task_key(task_id)],
            args=[index, token, _millis(lease_seconds), poison_deaths, "1" if redelivered else "0",
                  self.inflight_ttl_seconds],
        )
        outcome = reply[0]
        if outcome == 1:
            return "claimed", int(reply[1])
        if outcome == 3:
            return "busy", _text(reply[1])
        if outcome == 4:
            return "poison", int(reply[1])
        if outcome == 5:
            return "done", (int(reply[1]), int(reply[2]))
        return ("finished" if outcome == 2 else "missing"), None

    def renew(self, task_id: str, index: int, token: str, *, lease_seconds: float) -> bool:
        """Extend the part's lease of run ``token``; False when another run holds it now."""
        return bool(self._scripts["renew"](keys=[self.part_lease_key(task_id, index)],
                                           args=[token, _millis(lease_seconds)]))

    def release(self, task_id: str, index: int, token: str) -> None:
        """Give part ``index`` back (a stopped run): another may take it at once, and no death is counted."""
        self._scripts["release"](keys=[self.parts_key(task_id), self.part_lease_key(task_id, index)],
                                 args=[index, token])

    def progress(self, task_id: str, index: int, rows_done: int) -> None:
        """
        Record rows checked in part ``index``; the task's ``rows_done`` becomes the sum over parts.

        :raises IllegalTransition: the task is no longer ``validating`` (failed or cancelled).
        :raises TaskNotFound: the task or its plan is gone.
        """
        outcome, state = self._scripts["progress"](
            keys=[self.parts_key(task_id), self.task_key(task_id)],
            args=[index, rows_done, self.inflight_ttl_seconds, _now()],
        )
        if outcome == 0:
            raise TaskNotFound(f"no task {task_id!r} or no parts")
        if outcome == -1:
            raise IllegalTransition(task_id, _text(state), "progress")

    def done(self, task_id: str, index: int, token: str, *, rows: int) -> tuple[int, int]:
        """
        Record part ``index`` done (its report and rows stored), once however often it is
        called; give its lease back. Returns ``(parts done, parts in all)``: equal, the
        task is ready to merge.

        :raises IllegalTransition: the task is not ``validating`` any more (``current`` says
            what it is: finished, when failed or cancelled meanwhile).
        :raises TaskNotFound: the task or its plan is gone.
        """
        reply = self._scripts["done"](
            keys=[self.parts_key(task_id), self.part_lease_key(task_id, index), self.task_key(task_id)],
            args=[index, token, rows, self.inflight_ttl_seconds, _now()],
        )
        if reply[0] == 0:
            raise TaskNotFound(f"no task {task_id!r} or no parts")
        if reply[0] == 2:
            raise IllegalTransition(task_id, "finished", "part done")
        if reply[0] == -1:
            raise IllegalTransition(task_id, _text(reply[1]), "part done")
        return int(reply[1]), int(reply[2])

    def attempts(self, task_id: str, index: int) -> int:
        return int(self._redis.hget(self.parts_key(task_id), f"attempts:{index}") or 0)

    def deaths(self, task_id: str, index: int) -> int:
        return int(self._redis.hget(self.parts_key(task_id), f"deaths:{index}") or 0)

    # --- task-wide leases: the merge, the event ----------------------------------------

    def take_lease(self, task_id: str, name: str, token: str, *, lease_seconds: float, redelivered: bool = False,
                   force: bool = False) -> str | None:
        """
        Take the task's ``name`` lease (``merge``, ``announce``) for run ``token``; return
        None when taken, else the live run holding it. ``force`` takes it whoever holds it.
        """
        outcome, holder = self._scripts["take_lease"](
            keys=[self.lease_key(task_id, name), self._workers_key],
            args=[token, _millis(lease_seconds), "1" if redelivered else "0", "1" if force else "0"],
        )
        return None if outcome == 1 else _text(holder)

    def renew_lease(self, task_id: str, name: str, token: str, *, lease_seconds: float) -> bool:
        return bool(self._scripts["renew"](keys=[self.lease_key(task_id, name)],
                                           args=[token, _millis(lease_seconds)]))

    def drop_lease(self, task_id: str, name: str, token: str) -> None:
        self._scripts["drop_lease"](keys=[self.lease_key(task_id, name)], args=[token])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
