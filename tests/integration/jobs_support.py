"""Fixtures shared by the ``test_jobs_*`` modules: settings and environment for jobs and workers.

Everything lives in names of its own: the session's RabbitMQ virtual host, a Redis key
prefix per test, the session's PostgreSQL schema (schema registry) and a temporary
folder as the file store. Workers are real processes given the same environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.registry.models import TaskStatus
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.conftest import POSTGRES_URI, REDIS_URI

DRAFT = "https://json-schema.org/draft/2020-12/schema"
USERS_SCHEMA = {
    "$schema": DRAFT,
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string", "minLength": 1},
                   "age": {"type": "integer", "minimum": 0, "maximum": 150}},
    "required": ["id", "name"],
}


@pytest.fixture
def job_env(
    monkeypatch: pytest.MonkeyPatch,
    rabbitmq_uri: str,
    redis_prefix: str,
    pg_session_schema: str,
    tmp_path: Path,
) -> dict[str, str]:
    """The environment of this test's publishers and workers (also set in this process)."""
    env = {
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": rabbitmq_uri,
        "AIRFLOW_CONN_REDIS_DEFAULT": REDIS_URI,
        "AIRFLOW_CONN_POSTGRES_DEFAULT": POSTGRES_URI,
        "TYPECHECK_SCHEMA_STORE": "postgres",
        "TYPECHECK_POSTGRES_SCHEMA": pg_session_schema,
        "TYPECHECK_REDIS_PREFIX": redis_prefix,
        "TYPECHECK_STORAGE_URI": (tmp_path / "store").as_uri(),
        "TYPECHECK_WORKER_LEASE_SECONDS": "3",
        "TYPECHECK_WORKER_SHUTDOWN_GRACE_SECONDS": "20",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def job_settings(job_env: dict[str, str]) -> TypecheckSettings:
    return TypecheckSettings()


@pytest.fixture
def amqp(rabbitmq_uri: str) -> Iterator[Any]:
    """A channel on the test virtual host, with the topology declared and its queues empty."""
    import pika

    from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, VALIDATION_QUEUE, declare_topology

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_uri))
    channel = connection.channel()
    declare_topology(channel)
    channel.queue_purge(VALIDATION_QUEUE)
    channel.queue_purge(DEAD_LETTER_QUEUE)
    yield channel
    try:
        connection.close()
    except pika.exceptions.AMQPError:
        pass  # the broker restarted under it


def publish_raw(channel: Any, body: bytes, **properties: Any) -> None:
    """Publish a message as a careless or hostile publisher would: no contract checks."""
    import pika

    from airflow_provider_typecheck.jobs.topology import EXCHANGE, VALIDATION_ROUTING_KEY

    channel.basic_publish(EXCHANGE, VALIDATION_ROUTING_KEY, body,
                          pika.BasicProperties(delivery_mode=2, **properties))


def bind_events(channel: Any) -> str:
    """An exclusive queue receiving every event of the events exchange."""
    from airflow_provider_typecheck.jobs.topology import EVENTS_EXCHANGE

    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, EVENTS_EXCHANGE, routing_key="validation.#")
    return queue


def drain(channel: Any, queue: str) -> list[tuple[Any, Any, bytes]]:
    """Take every message now in ``queue`` (acked)."""
    taken = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return taken
        taken.append((method, properties, body))


def events_by_task(channel: Any, queue: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for method, _, body in drain(channel, queue):
        event = json.loads(body)
        assert method.routing_key == f"validation.{event['state']}.{event['import_name']}"
        found.setdefault(event["task_id"], []).append(event)
    return found


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1,
             detail: Callable[[], str] | None = None) -> Any:
    """Poll until ``predicate()`` is truthy (returned); fail the test with ``what`` (and ``detail()``) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(interval)


class WorkerProcess:
    """A ``typecheck worker`` started as a real process, its output kept in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_typecheck.cli", "worker", *args],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        return "consuming typecheck.validation" in self.log()

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.stop()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def start_worker(job_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes for this test (ready when they consume); all stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess({**job_env, **(env or {})}, tmp_path / f"worker{len(started)}.log", *args)
        started.append(worker)
        if wait:
            wait_for(worker.ready, timeout=60, what="the worker to start consuming", interval=0.2)
        return worker

    yield start
    for worker in started:
        worker.stop()


def all_ready(*workers: WorkerProcess) -> list[WorkerProcess]:
    """Wait for workers started together (``wait=False``): their start-ups overlap."""
    for worker in workers:
        wait_for(worker.ready, timeout=60, what="the worker to start consuming", interval=0.2)
    return list(workers)


def write_csv(path: Path, rows: list[str], header: str = "id,name,age") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


class TcpProxy:
    """
    A TCP forwarder the test can cut: an outage of one service for this test's workers
    alone, where restarting the shared server would take other users' data with it.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: Any) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # accepted in the instant of a cut: refuse it too
                client.close()
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        import socket

        if self._listener is not None:
            listener, self._listener = self._listener, None
            # close() alone leaves a thread blocked in accept() listening on the socket until
            # one more connection arrives; shutdown() wakes it first.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


@pytest.fixture
def import_name(job_settings: TypecheckSettings) -> str:
    """An import of this test's own, its schema the users one (version 1)."""
    name = f"users_{uuid.uuid4().hex[:8]}"
    services_for(job_settings).schemas.put(name, USERS_SCHEMA, new_version=True, actor="test")
    return name


def final_status(settings: TypecheckSettings, task_id: str, timeout: float = 90) -> TaskStatus:
    """The task's status once it has finished (valid, invalid or failed)."""
    tasks = services_for(settings).tasks

    def finished() -> TaskStatus | None:
        status = tasks.get(task_id)
        return status if status.state.finished else None

    return wait_for(finished, timeout=timeout, what=f"task {task_id} to finish")


@lru_cache(maxsize=8)
def services_for(settings: TypecheckSettings) -> Services:
    """The services of a configuration, kept as a process keeps its own (a publisher keeps its connection)."""
    return Services(settings)


def states(settings: TypecheckSettings, task_ids: list[str]) -> dict[str, dict[str, str]]:
    """The raw status hashes of many tasks, in one round trip ({} for a task that has none)."""
    tasks = services_for(settings).tasks
    pipe = services_for(settings).redis.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.hgetall(tasks.task_key(task_id))
    return {task_id: {k.decode(): v.decode() for k, v in raw.items()}
            for task_id, raw in zip(task_ids, pipe.execute(), strict=True)}


def big_csv(path: Path, rows: int) -> Path:
    """A valid users file of ``rows`` rows, big enough that a worker is caught mid-job."""
    block = "".join(f"{i},name{i % 997},{i % 100}\n" for i in range(10_000))
    with open(path, "w") as out:
        out.write("id,name,age\n")
        for _ in range(rows // 10_000):
            out.write(block)
    return path
