"""Workers that lose nothing: many jobs over two workers, killed workers, poison, SIGTERM, outages."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, REASON_HEADER, VALIDATION_QUEUE
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.conftest import REDIS_URI
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    TcpProxy,
    all_ready,
    amqp,
    big_csv,
    bind_events,
    drain,
    events_by_task,
    job_env,
    import_name,
    job_settings,
    start_worker,
    states,
    wait_for,
    services_for,
    write_csv,
)

pytestmark = pytest.mark.integration("rabbitmq")

FINISHED = {"valid", "invalid", "failed"}
SHORT_LEASE = {"TYPECHECK_WORKER_LEASE_SECONDS": "1"}  # a killed worker's job is taken over after 1 s


def _all_finished(settings: TypecheckSettings, task_ids: list[str], timeout: float) -> dict[str, dict[str, str]]:
    def done() -> dict[str, dict[str, str]] | None:
        found = states(settings, task_ids)
        return found if all(h.get("state") in FINISHED for h in found.values()) else None

    return wait_for(done, timeout=timeout, what=f"{len(task_ids)} tasks to finish", interval=0.3)


def _reports(settings: TypecheckSettings) -> list[str]:
    folder = Path(services_for(settings).files.root) / "reports"
    return sorted(p.name for p in folder.glob("*.json")) if folder.exists() else []


def _running(settings: TypecheckSettings, task_id: str, attempt: int) -> dict[str, str]:
    """Wait until run number ``attempt`` of the task has claimed it; return its status hash."""
    return wait_for(
        lambda: (h := states(settings, [task_id])[task_id]).get("state") in {"reading", "validating"}
        and int(h.get("attempts", 0)) == attempt and h,
        timeout=60, what=f"run {attempt} of task {task_id}", interval=0.01)


def _pid(status: dict[str, str]) -> int:
    return int(status["worker"].split(":")[1])


def test_a_thousand_jobs_over_two_workers_are_each_done_exactly_once(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    files = [write_csv(tmp_path / f"f{i}.csv", [f"{i},ann,{i * 20}"]) for i in range(10)]
    workers = [start_worker("--prefetch", "4", wait=False), start_worker("--prefetch", "4", wait=False)]
    task_ids = [services_for(job_settings).publish_validation(import_name, files[i % 10].as_uri()).task_id for i in range(1000)]

    final = _all_finished(job_settings, task_ids, timeout=180)

    by_state: dict[str, int] = {}
    for status in final.values():
        by_state[status["state"]] = by_state.get(status["state"], 0) + 1
    assert by_state == {"valid": 800, "invalid": 200}  # ages 160 and 180 are over the maximum
    assert {status["attempts"] for status in final.values()} == {"1"}  # no job ran twice
    assert _reports(job_settings) == sorted(f"{t}.json" for t in task_ids)
    announced = wait_for(lambda: (found := events_by_task(amqp, events)) and found, timeout=10, what="events")
    assert sorted(announced) == sorted(task_ids) and {len(e) for e in announced.values()} == {1}
    runs = {w.pid: w.log().count("validating ") for w in workers}
    assert sum(runs.values()) == 1000 and min(runs.values()) > 0, runs
    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0


def test_a_job_whose_worker_is_killed_is_finished_by_another(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    data = big_csv(tmp_path / "big.csv", 1_000_000)
    workers = {w.pid: w for w in all_ready(*(start_worker(env=SHORT_LEASE, wait=False) for _ in range(2)))}
    task_id = services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id

    first = _running(job_settings, task_id, attempt=1)
    workers[_pid(first)].kill()  # kill -9, mid-job

    final = _all_finished(job_settings, [task_id], timeout=90)[task_id]
    assert (final["state"], final["attempts"], final["rows_done"]) == ("valid", "2", "1000000")
    assert _pid(final) != _pid(first)
    assert services_for(job_settings).files.read_report(task_id)["total_rows"] == 1_000_000
    # The event follows the status write: wait for it rather than drain the queue at once.
    announced: dict[str, list[dict[str, Any]]] = {}

    def arrived() -> bool:
        for task, found in events_by_task(amqp, events).items():
            announced.setdefault(task, []).extend(found)
        return task_id in announced

    wait_for(arrived, timeout=30, what="the task's result event")
    assert [e["state"] for e in announced[task_id]] == ["valid"]


def test_a_job_that_kills_every_worker_ends_in_the_dead_letter_queue(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = big_csv(tmp_path / "poison.csv", 1_000_000)
    workers = {w.pid: w for w in all_ready(*(start_worker(env=SHORT_LEASE, wait=False) for _ in range(2)))}
    task_id = services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id

    for attempt in range(1, job_settings.poison_worker_deaths + 1):  # the poison kills each worker that runs it
        running = _running(job_settings, task_id, attempt)
        workers.pop(_pid(running)).kill()
        replacement = start_worker(env=SHORT_LEASE, wait=False)
        workers[replacement.pid] = replacement

    final = _all_finished(job_settings, [task_id], timeout=90)[task_id]
    assert final["state"] == "failed" and "taken for a poison message" in final["error"]
    assert final["attempts"] == str(job_settings.poison_worker_deaths)
    assert final["worker_deaths"] == str(job_settings.poison_worker_deaths)
    [(_, properties, body)] = wait_for(lambda: drain(amqp, DEAD_LETTER_QUEUE), timeout=10, what="the dead letter")
    assert json.loads(body)["task_id"] == task_id
    assert "taken for a poison message" in properties.headers[REASON_HEADER]


def test_sigterm_finishes_the_running_job_then_exits_0(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = big_csv(tmp_path / "big.csv", 1_000_000)
    worker = start_worker("--concurrency", "2")  # spawned children; SIGTERM goes to the parent
    task_id = services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id
    running = _running(job_settings, task_id, attempt=1)

    assert worker.terminate() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(_pid(running), 0)  # the child that ran the job has exited too

    status = services_for(job_settings).tasks.get(task_id)
    assert (status.state, status.attempts) == (TaskState.VALID, 1)
    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0


def test_sigterm_past_the_grace_period_requeues_the_job_for_another_worker(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = big_csv(tmp_path / "big.csv", 1_000_000)
    worker = start_worker(env={"TYPECHECK_WORKER_SHUTDOWN_GRACE_SECONDS": "0"})
    task_id = services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id
    _running(job_settings, task_id, attempt=1)

    assert worker.terminate() == 0
    assert "requeued" in worker.log()
    start_worker()

    final = _all_finished(job_settings, [task_id], timeout=90)[task_id]
    assert (final["state"], final["attempts"]) == ("valid", "2")


def test_workers_ride_out_a_rabbitmq_restart(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = big_csv(tmp_path / "mid.csv", 200_000)
    task_ids = [services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id for _ in range(60)]
    workers = all_ready(start_worker(wait=False), start_worker(wait=False))
    wait_for(lambda: sum(h.get("state") in FINISHED for h in states(job_settings, task_ids).values()) >= 5,
             timeout=60, what="the first jobs to finish")
    try:
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=60)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True, timeout=120)
    wait_for(lambda: all("reconnecting in" in w.log() for w in workers), timeout=60,
             what="every worker to lose its connection and reconnect")
    # Jobs published after the restart are consumed too, even where the first ones had all
    # finished before the broker stopped (on a quiet machine they take a few seconds).
    task_ids += [services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id for _ in range(10)]

    final = _all_finished(job_settings, task_ids, timeout=180)

    assert {h["state"] for h in final.values()} == {"valid"}
    assert _reports(job_settings) == sorted(f"{t}.json" for t in task_ids)
    assert all(w.process.poll() is None for w in workers)


def test_a_redis_outage_loses_no_job_and_reports_none_twice(
    amqp: Any, job_env: dict[str, str], job_settings: TypecheckSettings, import_name: str,  # noqa: F811
    start_worker: Callable[..., Any], tmp_path: Path, redis_prefix: str,
) -> None:
    host, port = REDIS_URI.removeprefix("redis://").split(":")
    proxy = TcpProxy(host, int(port))
    proxy.start()
    events = bind_events(amqp)
    data = big_csv(tmp_path / "mid.csv", 100_000)
    task_ids = [services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id for _ in range(60)]
    workers = all_ready(*(start_worker(env={"AIRFLOW_CONN_REDIS_DEFAULT": f"redis://127.0.0.1:{proxy.port}"},
                                       wait=False) for _ in range(2)))
    wait_for(lambda: sum(h.get("state") in FINISHED for h in states(job_settings, task_ids).values()) >= 5,
             timeout=60, what="the first jobs to finish")
    try:
        proxy.cut()
        # A Redis without persistence comes back empty: this test's keys go, as in a restart.
        client = services_for(job_settings).redis
        keys = list(client.scan_iter(match=f"{redis_prefix}*", count=500))
        client.delete(*keys)
        # Jobs published now meet the outage even where the workers had emptied the queue
        # before the cut (on a quiet machine 60 jobs of 100,000 rows take a few seconds).
        task_ids += [services_for(job_settings).publish_validation(import_name, data.as_uri()).task_id for _ in range(10)]
        wait_for(lambda: all("Redis is unreachable" in w.log() for w in workers), timeout=30,
                 what="the workers to meet the outage")
    finally:
        proxy.start()

    def every_report() -> bool:
        return len(_reports(job_settings)) == len(task_ids)

    wait_for(every_report, timeout=180, what="a report for every job")
    announced = wait_for(lambda: (found := events_by_task(amqp, events)) and len(found) == len(task_ids) and found,
                         timeout=60, what="an event for every job")
    assert {len(found) for found in announced.values()} == {1}
    assert {e[0]["state"] for e in announced.values()} == {"valid"}
    kept = {t: h for t, h in states(job_settings, task_ids).items() if h}
    assert kept and {h["state"] for h in kept.values()} == {"valid"}
    assert amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count == 0
    proxy.cut()
