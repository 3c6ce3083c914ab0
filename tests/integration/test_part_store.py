"""The parts of a split task in a real Redis: the plan, claims, deaths, progress, done counted once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_typecheck.registry.errors import IllegalTransition, TaskNotFound
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.registry.parts import PartStore
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

pytestmark = pytest.mark.integration("redis")

LEASE = 30.0


def _plan(count: int, rows: int = 10) -> list[dict[str, int]]:
    return [{"index": i, "count": count, "start": i * 100, "end": (i + 1) * 100, "first_row": 2 + i * rows,
             "rows": rows} for i in range(count)]


@pytest.fixture
def services(redis_prefix: str) -> Iterator[Services]:
    services = Services(TypecheckSettings(redis_prefix=redis_prefix))
    yield services
    services.close()


@pytest.fixture
def tasks(services: Services) -> TaskStatusStore:
    return services.tasks


@pytest.fixture
def parts(services: Services) -> PartStore:
    return services.parts


def _split_task(tasks: TaskStatusStore, parts: PartStore, count: int = 3) -> str:
    """A task claimed by a splitting run, which recorded ``count`` parts of 10 rows."""
    task_id = tasks.create(import_name="big", file_name="big.csv").task_id
    assert tasks.claim(task_id, "splitter:1:a", lease_seconds=LEASE)[0] == "claimed"
    assert parts.record_plan(task_id, _plan(count), total_rows=10 * count, checksum="sha256:ab") == "recorded"
    tasks.release_lease(task_id, "splitter:1:a")
    return task_id


def test_recording_a_plan_moves_the_task_to_validating_once(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)

    status = tasks.get(task_id)
    assert (status.state, status.parts_total, status.parts_done, status.rows_total, status.rows_done) == \
        (TaskState.VALIDATING, 3, 0, 30, 0)
    # A redelivered splitter planning again finds the first plan and keeps it.
    assert parts.record_plan(task_id, _plan(5), total_rows=50, checksum=None) == "recorded"
    plan = parts.plan(task_id)
    assert plan is not None and (plan.count, plan.total_rows, plan.checksum, plan.done) == (3, 30, "sha256:ab",
                                                                                           frozenset())
    assert tasks.get(task_id).parts_total == 3
    # Its whole job, delivered again, is not run as a whole file: its parts run.
    assert tasks.claim(task_id, "splitter:2:b", lease_seconds=LEASE, redelivered=True)[0] == "split"
    assert tasks.get(task_id).state is TaskState.VALIDATING


def test_a_plan_for_a_cancelled_or_missing_task_is_not_recorded(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = tasks.create(import_name="big", file_name="big.csv").task_id
    tasks.cancel(task_id, "stopped")

    assert parts.record_plan(task_id, _plan(2), total_rows=20, checksum=None) == "finished"
    assert parts.plan(task_id) is None
    with pytest.raises(TaskNotFound):
        parts.record_plan("no-such-task", _plan(2), total_rows=20, checksum=None)


def test_a_part_done_twice_is_counted_once_and_the_last_says_so(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)
    for index in range(3):
        assert parts.claim(task_id, index, f"w:1:{index}", lease_seconds=LEASE)[0] == "claimed"

    assert parts.done(task_id, 1, "w:1:1", rows=10) == (1, 3)
    assert parts.done(task_id, 1, "w:1:1", rows=10) == (1, 3)  # a redelivery recording it again
    assert parts.claim(task_id, 1, "w:2:x", lease_seconds=LEASE) == ("done", (1, 3))
    assert parts.done(task_id, 0, "w:1:0", rows=10) == (2, 3)
    assert parts.done(task_id, 2, "w:1:2", rows=10) == (3, 3)

    status = tasks.get(task_id)
    assert (status.parts_done, status.rows_done, status.percent) == (3, 30, 100.0)
    assert parts.plan(task_id).done == frozenset({0, 1, 2})


def test_rows_done_is_the_sum_over_parts_and_never_goes_backwards(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)
    parts.claim(task_id, 0, "w:1:a", lease_seconds=LEASE)
    parts.claim(task_id, 2, "w:1:b", lease_seconds=LEASE)

    parts.progress(task_id, 0, 4)
    parts.progress(task_id, 2, 6)
    assert (tasks.get(task_id).rows_done, tasks.get(task_id).percent) == (10, 33.33)
    parts.progress(task_id, 0, 2)  # a late update, or a run redoing the part from its start
    assert tasks.get(task_id).rows_done == 10

    tasks.cancel(task_id, "stopped by the DAG")
    with pytest.raises(IllegalTransition) as stopped:
        parts.progress(task_id, 0, 8)
    assert stopped.value.current == "failed"
    with pytest.raises(IllegalTransition):
        parts.done(task_id, 2, "w:1:b", rows=10)
    assert parts.claim(task_id, 1, "w:1:c", lease_seconds=LEASE) == ("finished", None)


def test_a_live_holder_is_respected_and_a_dead_one_counts_as_a_death(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)
    tasks.heartbeat("host:1", alive_seconds=60)
    assert parts.claim(task_id, 0, "host:1:run", lease_seconds=LEASE) == ("claimed", 1)

    # A delivery of the same part while its holder lives (a broker hiccup) waits.
    assert parts.claim(task_id, 0, "host:2:run", lease_seconds=LEASE) == ("busy", "host:1:run")
    assert parts.claim(task_id, 0, "host:2:run", lease_seconds=LEASE, redelivered=True) == ("busy", "host:1:run")
    # The holder's process is gone (no heartbeat): a redelivery takes the part over, one death.
    tasks.leave("host:1")
    assert parts.claim(task_id, 0, "host:2:run", lease_seconds=LEASE, redelivered=True) == ("claimed", 2)
    assert (parts.deaths(task_id, 0), parts.deaths(task_id, 1)) == (1, 0)
    # A run that gives its part back (SIGTERM) did not die.
    parts.release(task_id, 0, "host:2:run")
    assert parts.claim(task_id, 0, "host:3:run", lease_seconds=LEASE) == ("claimed", 3)
    assert parts.deaths(task_id, 0) == 1


def test_a_part_whose_workers_keep_dying_is_poison(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)
    outcomes = []
    for run in range(4):
        outcomes.append(parts.claim(task_id, 1, f"w{run}:1:r", lease_seconds=0.001, poison_deaths=3))
        time.sleep(0.01)  # the lease lapses: its run died

    assert [o for o, _ in outcomes] == ["claimed", "claimed", "claimed", "poison"]
    assert outcomes[3] == ("poison", 3) and parts.attempts(task_id, 1) == 3


def test_only_one_run_takes_a_task_wide_lease(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = _split_task(tasks, parts)
    tasks.heartbeat("a", alive_seconds=60)
    takers = [f"{name}:run" for name in "abcdefgh"]
    results: dict[str, str | None] = {}

    def take(token: str) -> None:
        results[token] = parts.take_lease(task_id, "merge", token, lease_seconds=LEASE)

    threads = [threading.Thread(target=take, args=(token,)) for token in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [token for token, holder in results.items() if holder is None]
    assert len(winners) == 1 and {h for h in results.values() if h} == {winners[0]}
    assert parts.renew_lease(task_id, "merge", winners[0], lease_seconds=LEASE)
    assert not parts.renew_lease(task_id, "merge", "someone:else", lease_seconds=LEASE)
    assert parts.take_lease(task_id, "merge", "z:run", lease_seconds=LEASE, force=True) is None
    parts.drop_lease(task_id, "merge", winners[0])  # not its any more: kept
    assert parts.take_lease(task_id, "merge", "y:run", lease_seconds=LEASE) == "z:run"


def test_whole_tasks_show_no_parts(tasks: TaskStatusStore, parts: PartStore) -> None:
    task_id = tasks.create(import_name="small", file_name="small.csv").task_id

    assert tasks.claim(task_id, "w:1:a", lease_seconds=LEASE)[0] == "claimed"
    status = tasks.get(task_id)
    assert (status.parts_total, status.parts_done) == (None, None)
    assert parts.plan(task_id) is None and parts.claim(task_id, 0, "w:1:b", lease_seconds=LEASE)[0] == "missing"
