"""Chaos, scaled down: jobs over two workers while workers are SIGKILLed at random moments, the
broker's app is restarted once and Redis is stopped and started again; then every job's outcome
is checked against what the CLI says for the same file.

Redis here is one this test starts itself on a free port (append-only file, fsync always, so a
restart keeps what it had, as a production Redis with persistence does); the machine's shared
Redis is never touched. The broker is the shared one (``rabbitmqctl stop_app`` then
``start_app``, restored in ``finally``); this test's jobs live in the session's virtual host.

``TYPECHECK_CHAOS_JOBS`` sets the number of jobs (200); ``TYPECHECK_CHAOS_TOTALS`` names a
file to write the run's totals to (benchmarks/chaos.py reads it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs.topology import EVENTS_EXCHANGE, VALIDATION_QUEUE
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    WorkerProcess,
    amqp,
    job_env,
    services_for,
    start_worker,
    states,
)

pytestmark = pytest.mark.integration("rabbitmq")

JOBS = int(os.environ.get("TYPECHECK_CHAOS_JOBS", "200"))
KILLS = 6  # SIGKILLs, at random moments 1.5 to 4 s apart, each of a worker running a job
DEADLINE_SECONDS = 240
FINISHED = {"valid", "invalid", "failed"}


class OwnRedis:
    """A redis-server of this test's own, on a free port, that keeps its data across restarts."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"],
            stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start:\n{(self.folder / 'redis.log').read_text()}")
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits, as on a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    folder = tmp_path / "redis"
    folder.mkdir()
    redis = OwnRedis(folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def _cli_outcome(data: Path, schema: Path) -> tuple[str, int, int]:
    """(state, total rows, invalid rows) as ``typecheck validate`` gives them."""
    done = subprocess.run([sys.executable, "-m", "airflow_provider_typecheck.cli", "validate", str(data),
                           "--schema", str(schema), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return ("valid" if done.returncode == 0 else "invalid"), report["total_rows"], report["invalid_rows"]


def _files(folder: Path) -> list[Path]:
    """Five files, valid and not, of 1 to 40,000 rows."""
    made = []
    for index, (rows, bad_every) in enumerate([(40_000, 0), (25_000, 997), (10_000, 0), (30_000, 101), (1, 1)]):
        path = folder / f"chaos{index}.csv"
        with open(path, "w") as out:
            out.write("id,name,age\n")
            for i in range(rows):
                age = 200 if bad_every and i % bad_every == 0 else i % 100
                out.write(f"{i},name{i % 997},{age}\n")
        made.append(path)
    return made


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def _events_queue(rabbitmq_uri: str, name: str, *, delete: bool = False) -> list[dict[str, Any]]:
    """Declare (or drain and delete) a durable queue of every event: it outlives the broker's restart."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(name, EVENTS_EXCHANGE, routing_key="validation.#")
        events = []
        while delete:
            method, _, body = channel.basic_get(name, auto_ack=True)
            if method is None:
                channel.queue_delete(name)
                break
            events.append(json.loads(body))
        return events
    finally:
        connection.close()


def test_jobs_end_right_through_kills_a_broker_restart_and_a_redis_restart(
    amqp: Any, job_env: dict[str, str], own_redis: OwnRedis, start_worker: Callable[..., WorkerProcess],  # noqa: F811
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("TYPECHECK_CHAOS_SEED", str(random.randrange(1 << 30))))
    chance = random.Random(seed)
    print(f"chaos seed {seed}")  # rerun the same moments with TYPECHECK_CHAOS_SEED
    # The lease stays at its production length: a killed worker's job must be taken over on
    # its heartbeat, not after 30 s.
    env = {"TYPECHECK_REDIS_URI": own_redis.uri, "TYPECHECK_WORKER_LEASE_SECONDS": "30"}
    settings = TypecheckSettings(redis_uri=own_redis.uri)
    import_name = f"chaos_{uuid.uuid4().hex[:8]}"
    services_for(settings).schemas.put(import_name, USERS_SCHEMA, new_version=True, actor="test")
    schema = tmp_path / "users.schema.json"
    schema.write_text(json.dumps(USERS_SCHEMA))
    files = _files(tmp_path)
    expected_by_file = {path.as_uri(): _cli_outcome(path, schema) for path in files}
    events_queue = f"chaos.events.{uuid.uuid4().hex[:8]}"
    rabbitmq_uri = job_env["AIRFLOW_CONN_RABBITMQ_DEFAULT"]
    _events_queue(rabbitmq_uri, events_queue)

    started = time.monotonic()
    publisher = services_for(settings)
    jobs = {publisher.publish_validation(import_name, files[i % len(files)].as_uri()).task_id:
            files[i % len(files)].as_uri() for i in range(JOBS)}
    workers = [start_worker(env=env, wait=False) for _ in range(2)]
    every_worker = list(workers)
    faults = {"worker kills": 0, "broker restarts": 0, "redis restarts": 0}
    broker_stopped = False
    next_kill = time.monotonic() + chance.uniform(1.5, 4.0)
    finished = 0
    try:
        while finished < JOBS:
            assert time.monotonic() - started < DEADLINE_SECONDS, f"{finished}/{JOBS} finished; faults {faults}"
            time.sleep(0.25)
            try:
                now = states(settings, list(jobs))
            except Exception:  # noqa: BLE001 - Redis is down just now: read again next round
                continue
            finished = sum(h.get("state") in FINISHED for h in now.values())
            if not faults["broker restarts"] and finished >= JOBS * 0.2:
                broker_stopped = True
                _rabbitmqctl("stop_app")
                _rabbitmqctl("start_app")
                broker_stopped = False
                faults["broker restarts"] += 1
            elif faults["broker restarts"] and not faults["redis restarts"] and finished >= JOBS * 0.5:
                own_redis.stop()
                time.sleep(chance.uniform(1.0, 3.0))
                own_redis.start()
                faults["redis restarts"] += 1
            # A kill lands on a worker caught running a job (one still starting up would lose
            # nothing), and each on another job: ordinary faults, where three deaths of one job
            # would be poison (test_jobs_resilience.py has that case).
            running = {int(h["worker"].split(":")[1]) for h in now.values()
                       if h.get("state") in {"reading", "validating"} and "worker" in h
                       and h.get("worker_deaths", "0") == "0" and h.get("attempts") == "1"}
            victims = [w for w in workers if w.pid in running]
            if faults["worker kills"] < KILLS and time.monotonic() >= next_kill and victims:
                victim = chance.choice(victims)
                victim.kill()
                replacement = start_worker(env=env, wait=False)
                workers[workers.index(victim)] = replacement
                every_worker.append(replacement)
                faults["worker kills"] += 1
                next_kill = time.monotonic() + chance.uniform(1.5, 4.0)
    finally:
        if broker_stopped:
            _rabbitmqctl("start_app")
    elapsed = time.monotonic() - started

    final = states(settings, list(jobs))
    outcomes = {}
    for task_id, status in final.items():
        summary = json.loads(status["summary"]) if "summary" in status else {}
        outcomes[task_id] = (status["state"], summary.get("total_rows"), summary.get("invalid_rows"))
    right = sum(outcomes[t] == expected_by_file[jobs[t]] for t in jobs)
    events = _events_queue(rabbitmq_uri, events_queue, delete=True)
    per_task: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        per_task.setdefault(event["task_id"], []).append(event)
    # The one INFO line a job's finishing run writes: a task finished twice would have two.
    finishes: dict[str, int] = {}
    for worker in every_worker:
        for line in worker.log().splitlines():
            if " job " in line and (" state=valid" in line or " state=invalid" in line):
                task_id = line.split(" job ", 1)[1].split(":", 1)[0]
                finishes[task_id] = finishes.get(task_id, 0) + 1
    totals = {"jobs": JOBS, "faults": faults, "jobs_right": right, "seconds": round(elapsed, 1),
              "runs": sum(int(h.get("attempts", 0)) for h in final.values()),
              "worker_deaths": sum(int(h.get("worker_deaths", 0)) for h in final.values()),
              "events": len(events), "repeated_events": len(events) - len(per_task), "seed": seed}
    print(f"chaos totals {json.dumps(totals)}")
    if os.environ.get("TYPECHECK_CHAOS_TOTALS"):
        Path(os.environ["TYPECHECK_CHAOS_TOTALS"]).write_text(json.dumps(totals))

    assert faults["broker restarts"] == faults["redis restarts"] == 1 and faults["worker kills"] >= 1, faults
    assert [t for t in jobs if outcomes[t] != expected_by_file[jobs[t]]] == []  # none failed, none wrong
    assert [t for t, n in finishes.items() if n > 1] == []  # none finished twice
    # Each announced; a repeat is possible (a broker restart can take the publisher's confirm
    # of an event it had routed: the event goes again), and is the same event: its message id
    # is the task id, for consumers to drop repeats.
    assert sorted(per_task) == sorted(jobs)
    assert all(all(e == found[0] for e in found) for found in per_task.values())
    assert amqp_count(rabbitmq_uri) == 0


def amqp_count(rabbitmq_uri: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
    try:
        return connection.channel().queue_declare(VALIDATION_QUEUE, passive=True).method.message_count
    finally:
        connection.close()
