"""Task status in a real Redis: states, progress, TTLs, lookups, atomicity."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_typecheck.registry.errors import (
    IllegalTransition,
    InvalidImportName,
    InvalidInput,
    TaskExists,
    TaskNotFound,
)
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

pytestmark = pytest.mark.integration("redis")

FINISHED_TTL = 7 * 24 * 3600
INFLIGHT_TTL = 3600


@pytest.fixture
def tasks(redis_prefix: str) -> Iterator[TaskStatusStore]:
    services = Services(TypecheckSettings(
        task_ttl_seconds=FINISHED_TTL, task_inflight_ttl_seconds=INFLIGHT_TTL, redis_prefix=redis_prefix
    ))
    yield services.tasks
    services.close()


def _ttl(tasks: TaskStatusStore, key: str) -> int:
    return tasks._redis.ttl(key)


def test_a_task_goes_from_queued_to_valid(tasks: TaskStatusStore) -> None:
    created = tasks.create(import_name="orders", file_name="orders.csv", file_size=1234)
    assert created.state is TaskState.QUEUED
    assert tasks.get(created.task_id) == created

    reading = tasks.mark_reading(created.task_id, schema_version=3)
    assert (reading.state, reading.schema_version, reading.started_at is not None) == (TaskState.READING, 3, True)
    validating = tasks.mark_validating(created.task_id, rows_total=200)
    assert (validating.state, validating.rows_total) == (TaskState.VALIDATING, 200)
    progressed = tasks.progress(created.task_id, 50)
    assert (progressed.rows_done, progressed.percent) == (50, 25.0)
    done = tasks.finish(created.task_id, valid=True, summary={"rows": 200, "errors": 0}, rows_done=200)

    assert done.state is TaskState.VALID
    assert (done.rows_done, done.percent, done.summary) == (200, 100.0, {"rows": 200, "errors": 0})
    assert done.finished_at is not None and done.finished_at >= done.created_at
    assert tasks.get(created.task_id) == done
    assert (done.file_name, done.file_size, done.import_name) == ("orders.csv", 1234, "orders")


def test_a_task_can_fail_from_any_unfinished_state(tasks: TaskStatusStore) -> None:
    for steps in ([], [TaskState.READING], [TaskState.READING, TaskState.VALIDATING]):
        task = tasks.create(import_name="orders", file_name="f.csv")
        for step in steps:
            tasks.transition(task.task_id, step)
        failed = tasks.fail(task.task_id, "the file is not a spreadsheet")
        assert (failed.state, failed.error) == (TaskState.FAILED, "the file is not a spreadsheet")


@pytest.mark.parametrize("finished", [TaskState.VALID, TaskState.INVALID, TaskState.FAILED])
@pytest.mark.parametrize("target", list(TaskState))
def test_nothing_leaves_a_finished_state(tasks: TaskStatusStore, finished: TaskState, target: TaskState) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.transition(task.task_id, TaskState.READING)
    tasks.transition(task.task_id, TaskState.VALIDATING)
    tasks.transition(task.task_id, finished, summary={"ok": finished is TaskState.VALID})

    with pytest.raises(IllegalTransition) as caught:
        tasks.transition(task.task_id, target)
    assert (caught.value.current, caught.value.target) == (finished.value, target.value)
    with pytest.raises(IllegalTransition):
        tasks.progress(task.task_id, 10)
    assert tasks.get(task.task_id).state is finished


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], TaskState.VALIDATING),
        ([], TaskState.VALID),
        ([], TaskState.QUEUED),
        ([TaskState.READING], TaskState.READING),
        ([TaskState.READING], TaskState.INVALID),
        ([TaskState.READING, TaskState.VALIDATING], TaskState.READING),
    ],
)
def test_skipping_or_going_back_is_refused(tasks: TaskStatusStore, path: list[TaskState], target: TaskState) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    for step in path:
        tasks.transition(task.task_id, step)
    with pytest.raises(IllegalTransition):
        tasks.transition(task.task_id, target)


def test_progress_never_goes_backwards_and_needs_a_running_task(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    with pytest.raises(IllegalTransition):
        tasks.progress(task.task_id, 1)
    tasks.mark_reading(task.task_id)
    assert tasks.progress(task.task_id, 30).percent is None  # total not known yet

    tasks.progress(task.task_id, 60, rows_total=120)
    late = tasks.progress(task.task_id, 40)

    assert (late.rows_done, late.rows_total, late.percent) == (60, 120, 50.0)
    with pytest.raises(InvalidInput):
        tasks.progress(task.task_id, -1)


def test_only_one_of_many_concurrent_finishers_wins(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.mark_reading(task.task_id)
    tasks.mark_validating(task.task_id)
    contenders = [TaskState.VALID, TaskState.INVALID, TaskState.FAILED] * 4
    start = threading.Barrier(len(contenders))
    won: list[TaskState] = []
    refused: list[IllegalTransition] = []

    def finish(state: TaskState) -> None:
        start.wait()
        try:
            tasks.transition(task.task_id, state, error="x" if state is TaskState.FAILED else None)
            won.append(state)
        except IllegalTransition as exc:
            refused.append(exc)

    threads = [threading.Thread(target=finish, args=(s,)) for s in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(won) == 1 and len(refused) == len(contenders) - 1
    assert tasks.get(task.task_id).state is won[0]


def test_ttls_follow_the_state(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    key = tasks.task_key(task.task_id)
    assert 0 < _ttl(tasks, key) <= INFLIGHT_TTL
    tasks.mark_reading(task.task_id)
    tasks.progress(task.task_id, 5)
    assert 0 < _ttl(tasks, key) <= INFLIGHT_TTL

    tasks.fail(task.task_id, "boom")

    assert INFLIGHT_TTL < _ttl(tasks, key) <= FINISHED_TTL
    assert INFLIGHT_TTL < _ttl(tasks, tasks.index_key("orders")) <= FINISHED_TTL


def test_lookup_by_import_name_is_newest_first(tasks: TaskStatusStore) -> None:
    ids = [tasks.create(import_name="orders", file_name=f"{i}.csv").task_id for i in range(4)]
    tasks.create(import_name="customers", file_name="c.csv")

    found = tasks.for_import("orders")

    assert [t.task_id for t in found] == list(reversed(ids))
    assert [t.task_id for t in tasks.for_import("orders", skip=1, limit=2)] == [ids[2], ids[1]]
    assert tasks.for_import("nobody") == []
    with pytest.raises(InvalidImportName):
        tasks.for_import("no/such")


def test_expired_tasks_drop_out_of_the_index(tasks: TaskStatusStore) -> None:
    keep = tasks.create(import_name="orders", file_name="a.csv")
    gone = tasks.create(import_name="orders", file_name="b.csv")
    tasks._redis.delete(tasks.task_key(gone.task_id))  # what its TTL would do

    assert [t.task_id for t in tasks.for_import("orders")] == [keep.task_id]
    assert tasks._redis.zrange(tasks.index_key("orders"), 0, -1) == [keep.task_id.encode()]


def test_ids_are_unique_and_unknown_ids_are_not_found(tasks: TaskStatusStore) -> None:
    tasks.create(import_name="orders", file_name="a.csv", task_id="job-1")
    with pytest.raises(TaskExists):
        tasks.create(import_name="orders", file_name="a.csv", task_id="job-1")
    with pytest.raises(TaskNotFound):
        tasks.get("job-2")
    with pytest.raises(TaskNotFound):
        tasks.transition("job-2", TaskState.READING)
    with pytest.raises(TaskNotFound):
        tasks.progress("job-2", 1)
    with pytest.raises(InvalidInput):
        tasks.create(import_name="orders", file_name="a.csv", task_id="bad id")


def test_summaries_must_be_small_json(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="a.csv")
    tasks.mark_reading(task.task_id)
    tasks.mark_validating(task.task_id)
    with pytest.raises(InvalidInput):
        tasks.finish(task.task_id, valid=False, summary={"samples": "x" * 70_000})
    assert tasks.get(task.task_id).state is TaskState.VALIDATING


def test_every_key_is_under_the_prefix(tasks: TaskStatusStore, redis_prefix: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    task = tasks.create(import_name="orders", file_name="a.csv")
    tasks.mark_reading(task.task_id)

    keys = {k.decode() for k in tasks._redis.scan_iter(match=f"{redis_prefix}*")}

    assert keys == {f"{redis_prefix}task:{task.task_id}", f"{redis_prefix}tasks:import:orders",
                    f"{redis_prefix}stats:tasks"}
    # The default prefix: the session's API environment (api_env) may have set another.
    monkeypatch.delenv("TYPECHECK_REDIS_PREFIX", raising=False)
    assert Services(TypecheckSettings()).tasks.task_key("x").startswith("typecheck:")


def test_the_submitter_and_airflow_origin_are_kept_and_indexed(tasks: TaskStatusStore) -> None:
    from airflow_provider_typecheck.registry.tasks import decode_status

    origin = {"dag_id": "payroll", "task_id": "check", "run_id": "manual__2026-01-01", "map_index": -1}
    from_airflow = tasks.create(import_name="pay", file_name="p.csv", submitted_by="airflow:payroll.check",
                                airflow=origin)
    mine = tasks.create(import_name="pay", file_name="p.csv", submitted_by="5f0c0de4-0000-4000-8000-000000000001")
    tasks.mark_reading(from_airflow.task_id)
    tasks.mark_validating(from_airflow.task_id)
    tasks.finish(from_airflow.task_id, valid=True, summary={})  # every write keeps both indexes alive
    stored = tasks.get(from_airflow.task_id)
    assert stored.submitted_by == "airflow:payroll.check" and stored.airflow.model_dump() == origin
    # The async reader (triggers) gets the hash as str: the same object comes out.
    raw = {k.decode(): v.decode() for k, v in tasks._redis.hgetall(tasks.task_key(stored.task_id)).items()}
    assert decode_status(raw).airflow.model_dump() == origin
    assert [t.task_id for t in tasks.for_import("pay")] == [mine.task_id, from_airflow.task_id]
    owned = tasks.for_import("pay", submitted_by=mine.submitted_by)
    assert [t.task_id for t in owned] == [mine.task_id]
    assert tasks.count_for_import("pay", submitted_by=mine.submitted_by) == 1
    assert _ttl(tasks, tasks.index_key("pay", "airflow:payroll.check")) >= FINISHED_TTL - 5
    with pytest.raises(InvalidInput):
        tasks.create(import_name="pay", file_name="p.csv", submitted_by="a b{c}")
