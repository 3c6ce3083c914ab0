"""Task status as the workers use it: leases, take-over, cancellation, TTLs of the index."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from airflow_provider_typecheck.registry.errors import IllegalTransition
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


def test_progress_refreshes_the_ttl_of_the_task_and_its_index(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.mark_reading(task.task_id)
    client = tasks._redis
    client.expire(tasks.task_key(task.task_id), 10)
    client.expire(tasks.index_key("orders"), 10)

    tasks.progress(task.task_id, 5)

    assert _ttl(tasks, tasks.task_key(task.task_id)) > INFLIGHT_TTL - 5
    assert _ttl(tasks, tasks.index_key("orders")) > INFLIGHT_TTL - 5


def test_finishing_keeps_the_index_as_long_as_the_finished_task(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.mark_reading(task.task_id)
    tasks.mark_validating(task.task_id)
    tasks._redis.expire(tasks.index_key("orders"), 10)  # as if the index were about to lapse

    tasks.finish(task.task_id, valid=True, summary={})

    assert _ttl(tasks, tasks.index_key("orders")) > FINISHED_TTL - 5
    assert [t.task_id for t in tasks.for_import("orders")] == [task.task_id]


def test_finish_keeps_the_total_that_progress_recorded(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.mark_reading(task.task_id)
    tasks.mark_validating(task.task_id, rows_total=200)
    tasks.progress(task.task_id, 120)

    done = tasks.finish(task.task_id, valid=False, summary={"invalid_rows": 3}, report_uri="file:///r/t.json")

    assert (done.rows_done, done.rows_total, done.percent) == (120, 200, 100.0)
    assert done.report_uri == "file:///r/t.json"


def test_one_live_run_holds_a_task_and_a_dead_ones_task_is_taken_over(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    outcome, claimed = tasks.claim(task.task_id, "run-a", lease_seconds=0.5)
    assert outcome == "claimed" and claimed.state is TaskState.READING and claimed.attempts == 1
    tasks.mark_validating(task.task_id, rows_total=10)
    tasks.progress(task.task_id, 7)

    assert tasks.claim(task.task_id, "run-b", lease_seconds=0.5) == ("busy", "run-a")
    assert tasks.renew_lease(task.task_id, "run-a", lease_seconds=0.5)
    time.sleep(0.7)  # run-a dies: its lease runs out

    outcome, taken = tasks.claim(task.task_id, "run-b", lease_seconds=5)

    assert outcome == "claimed" and (taken.state, taken.rows_done, taken.attempts) == (TaskState.READING, 0, 2)
    assert not tasks.renew_lease(task.task_id, "run-a", lease_seconds=5)
    tasks.mark_validating(task.task_id)
    tasks.finish(task.task_id, valid=True, summary={})
    assert tasks._redis.exists(tasks.lease_key(task.task_id)) == 0
    outcome, finished = tasks.claim(task.task_id, "run-c", lease_seconds=5)
    assert outcome == "finished" and finished.state is TaskState.VALID


def test_a_claim_on_an_unknown_task_says_so(tasks: TaskStatusStore) -> None:
    assert tasks.claim("nope", "run-a", lease_seconds=1) == ("missing", None)


def test_a_cancelled_task_stops_its_run_at_the_next_progress_point(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.claim(task.task_id, "run-a", lease_seconds=5)

    tasks.cancel(task.task_id, "stopped by the DAG")

    with pytest.raises(IllegalTransition):
        tasks.progress(task.task_id, 10)
    assert tasks.get(task.task_id).error == "stopped by the DAG"
    assert tasks.claim(task.task_id, "run-b", lease_seconds=5)[0] == "finished"


def test_a_run_that_gives_its_task_back_is_no_death_and_one_whose_lease_ran_out_is(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.claim(task.task_id, "host:1:a", lease_seconds=5)
    tasks.release_lease(task.task_id, "host:1:a")  # SIGTERM past the grace period: requeued

    assert tasks.claim(task.task_id, "host:2:b", lease_seconds=0.3)[0] == "claimed"
    assert tasks.worker_deaths(task.task_id) == 0
    time.sleep(0.5)  # host:2 dies mid-run: its lease runs out, nothing gave the task back

    assert tasks.claim(task.task_id, "host:3:c", lease_seconds=5)[0] == "claimed"
    assert tasks.worker_deaths(task.task_id) == 1


def test_a_redelivered_job_is_taken_from_a_gone_worker_at_once_and_left_to_a_live_one(
    tasks: TaskStatusStore,
) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    tasks.heartbeat("host:1", alive_seconds=30)
    tasks.claim(task.task_id, "host:1:a", lease_seconds=30)

    # host:1 lost its connection but still runs the job: its heartbeat is live.
    assert tasks.claim(task.task_id, "host:2:b", lease_seconds=30, redelivered=True) == ("busy", "host:1:a")
    # A job that was not redelivered never judges its holder by the heartbeat.
    tasks.leave("host:1")
    assert tasks.claim(task.task_id, "host:2:b", lease_seconds=30) == ("busy", "host:1:a")

    # host:1 is gone (no heartbeat) and the broker redelivered its job: no wait for the lease.
    outcome, taken = tasks.claim(task.task_id, "host:2:b", lease_seconds=30, redelivered=True)
    assert outcome == "claimed" and taken.attempts == 2
    assert tasks.worker_deaths(task.task_id) == 1
    assert not tasks.renew_lease(task.task_id, "host:1:a", lease_seconds=30)


def test_the_death_that_makes_poison_leaves_the_task_unclaimed(tasks: TaskStatusStore) -> None:
    task = tasks.create(import_name="orders", file_name="f.csv")
    for run in "abc":
        assert tasks.claim(task.task_id, f"host:{run}:{run}", lease_seconds=30, poison_deaths=3,
                           redelivered=True)[0] == "claimed"
    outcome, status = tasks.claim(task.task_id, "host:d:d", lease_seconds=30, poison_deaths=3, redelivered=True)

    assert outcome == "poison" and status.attempts == 3
    assert tasks.worker_deaths(task.task_id) == 3
    assert tasks._redis.get(tasks.lease_key(task.task_id)) == b"host:c:c"


def test_live_workers_are_those_whose_heartbeat_has_not_run_out(tasks: TaskStatusStore) -> None:
    assert tasks.live_workers() == 0
    tasks.heartbeat("host:1", alive_seconds=30)
    tasks.heartbeat("host:2", alive_seconds=0.2)
    assert tasks.live_workers() == 2
    time.sleep(0.4)
    assert tasks.live_workers() == 1
    tasks.leave("host:1")
    assert tasks.live_workers() == 0


def test_tasks_are_counted_by_state_as_they_move(tasks: TaskStatusStore) -> None:
    first = tasks.create(import_name="orders", file_name="f.csv")
    second = tasks.create(import_name="orders", file_name="g.csv")
    tasks.claim(first.task_id, "host:1:a", lease_seconds=5)
    tasks.mark_validating(first.task_id)
    tasks.finish(first.task_id, valid=False, summary={})
    tasks.cancel(second.task_id, "not wanted")

    counts = tasks.state_counts()
    assert counts == {"queued": 0, "reading": 0, "validating": 0, "valid": 0, "invalid": 1, "failed": 1}
