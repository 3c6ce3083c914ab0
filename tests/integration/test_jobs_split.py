"""One file across the worker pool: real workers split a CSV, validate its parts, merge one exact report.

The reference is always the same file validated whole by the core in this process: the
merged report, summary and row files must equal it, field by field and byte for byte.
``TYPECHECK_SPLIT_BYTES`` is a few KB here, so the files stay small.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.jobs import JobOptions
from airflow_provider_typecheck.jobs.contract import ValidationJob, ValidationPartJob
from airflow_provider_typecheck.jobs.filestore import ReportNotFound, file_checksum
from airflow_provider_typecheck.jobs.topology import VALIDATION_QUEUE
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.jobs_support import (  # noqa: F401
    USERS_SCHEMA,
    all_ready,
    amqp,
    bind_events,
    drain,
    events_by_task,
    job_env,
    final_status,
    import_name,
    job_settings,
    services_for,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.integration("rabbitmq")

PART_BYTES = 4096
SPLIT = {"TYPECHECK_SPLIT_BYTES": str(PART_BYTES)}
SLOW_SPLIT = {"TYPECHECK_SPLIT_BYTES": str(2 * 1024 * 1024), "TYPECHECK_WORKER_LEASE_SECONDS": "1"}
# A lookahead is outside the regex core Rust and Python share: python re decides each of
# these distinct names, so a part of 150,000 rows takes a second or more, long enough to
# catch a worker mid-part.
SLOW_SCHEMA = {**USERS_SCHEMA, "properties": {**USERS_SCHEMA["properties"],
                                              "name": {"type": "string", "pattern": "^(?=n)n[0-9]+$"}}}


@pytest.fixture
def slow_import(job_settings: TypecheckSettings) -> str:  # noqa: F811
    name = f"slow_{uuid.uuid4().hex[:8]}"
    services_for(job_settings).schemas.put(name, SLOW_SCHEMA, new_version=True, actor="test")
    return name


# --- files --------------------------------------------------------------------------------


def _records(count: int, newline: str) -> list[list[str]]:
    """Rows of every shape: quoted fields holding line breaks, ragged rows, bad ids; ages "030"."""
    records = []
    for i in range(count):
        name = f"name{i}"
        if i % 9 == 4:  # a quoted field with line breaks, long enough to straddle cuts
            name = f'"two{newline}lines, {"x" * 90}{newline}and ""three"""'
        row = [str(i + 1) if i % 11 != 3 else f"x{i}", name, "030"]
        if i % 13 == 6:
            row.append("surplus")  # a ragged row: one field too many
        elif i % 17 == 8:
            row.pop()  # and one too few
        records.append(row)
    return records


def _text(records: list[list[str]], newline: str) -> str:
    return newline.join(["id,name,age", *(",".join(row) for row in records)]) + newline


def _shaped_csv(path: Path, newline: str) -> Path:
    """
    A CSV the split must cut well: after the plan is known, the first and the last row of
    every part get an age over the maximum (same bytes, so the plan stays the same).
    """
    from airflow_provider_typecheck.validation.parts import plan_parts

    records = _records(700, newline)
    data = _text(records, newline)
    path.write_bytes(data.encode())
    # A cut at the first line break past a multiple of the part size would land inside a quoted field.
    encoded = data.encode()
    naive = [encoded.index(b"\n", k * PART_BYTES) for k in range(1, len(encoded) // PART_BYTES)]
    assert any(_inside_quotes(encoded, at) for at in naive)
    plan = plan_parts(str(path), part_bytes=PART_BYTES)
    assert plan is not None and len(plan.parts) >= 4, plan
    edged = 0
    for part in plan.parts:
        ends = [part.first_row - 2, part.first_row - 2 + part.rows - 1]
        for index in ends:
            if records[index][-1] == "030" and len(records[index]) == 3:
                records[index][-1] = "999"
        edged += all(records[index][2:3] == ["999"] for index in ends)
    assert edged >= 2  # parts whose first and last rows are both invalid
    path.write_bytes(_text(records, newline).encode())
    again = plan_parts(str(path), part_bytes=PART_BYTES)
    assert again is not None and again.parts == plan.parts
    return path


def _inside_quotes(data: bytes, at: int) -> bool:
    return data.count(b'"', 0, at) % 2 == 1


def _slow_csv(path: Path, rows: int) -> Path:
    with open(path, "w") as out:
        out.write("id,name,age\n")
        for start in range(0, rows, 100_000):
            out.write("".join(f"{i},n{i},{i % 100}\n" for i in range(start, min(rows, start + 100_000))))
    return path


# --- waiting ------------------------------------------------------------------------------


def _running_parts(settings: TypecheckSettings, task_id: str) -> dict[int, str]:
    """The parts of the task being run now, and the run holding each (``host:pid:run``)."""
    raw = services_for(settings).redis.hgetall(services_for(settings).parts.parts_key(task_id))
    return {int(k.decode().split(":")[1]): v.decode() for k, v in raw.items() if k.startswith(b"running:")}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settled(amqp: Any, ports: list[int]) -> bool:  # noqa: F811
    """No job waits in the work queue and no worker holds one (each worker's own in-flight gauge)."""
    import urllib.request

    if amqp.queue_declare(VALIDATION_QUEUE, passive=True).method.message_count:
        return False
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            if "typecheck_jobs_in_flight 0.0" not in page.read().decode():
                return False
    return True


def _settle(amqp: Any, ports: list[int]) -> None:  # noqa: F811
    # Twice in a row: a message on its way from the queue to a worker is in neither count for an instant.
    wait_for(lambda: _settled(amqp, ports) and _settled(amqp, ports), timeout=60, interval=0.2,
             what="every part to be settled")


def _part_runs(workers: list[Any]) -> int:
    return sum(w.log().count("validating part ") for w in workers)


def _events(amqp: Any, queue: str, task_id: str) -> list[dict[str, Any]]:  # noqa: F811
    return events_by_task(amqp, queue).get(task_id, [])


# --- the merged report is the whole file's ------------------------------------------------


def test_a_split_file_is_reported_exactly_as_the_whole_file(
    amqp: Any, job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    from airflow_provider_typecheck.validation import validate_file

    events = bind_events(amqp)
    lf = _shaped_csv(tmp_path / "lf.csv", "\n")
    crlf = _shaped_csv(tmp_path / "crlf.csv", "\r\n")
    rows = {"write_invalid_rows": True, "write_valid_rows": True}
    cases = {"lf": (lf, JobOptions(**rows)), "crlf": (crlf, JobOptions(**rows)),
             "lf, first 7 errors": (lf, JobOptions(max_errors=7, **rows))}
    workers = all_ready(*(start_worker(env=SPLIT, wait=False) for _ in range(2)))
    services = services_for(job_settings)
    submitted = {case: services.publish_validation(import_name, path.as_uri(), options=options).task_id
                 for case, (path, options) in cases.items()}

    files = services.files
    for number, (case, task_id) in enumerate(submitted.items()):
        path, options = cases[case]
        status = final_status(job_settings, task_id)
        reference_dir = tmp_path / f"reference{number}"
        reference_dir.mkdir()
        whole = validate_file(str(path), USERS_SCHEMA, max_errors=options.max_errors,
                              invalid_out=reference_dir / "invalid.csv", valid_out=reference_dir / "valid.csv")
        expected = whole.to_dict()
        assert whole.invalid_rows > 20 and whole.total_rows == 700

        assert status.state is TaskState.INVALID, (case, status.error)
        assert status.parts_total is not None and status.parts_total >= 4, case
        assert (status.parts_done, status.rows_done, status.rows_total) == (status.parts_total, 700, 700), case
        report = files.read_report(task_id)
        for key, value in expected.items():
            if key not in ("elapsed_seconds", "file"):
                assert report[key] == value, (case, key)
        assert (report["file"], report["task_id"], report["import_name"]) == (path.name, task_id, import_name)
        summary = status.summary
        assert (summary["total_rows"], summary["invalid_rows"], summary["errors_by_column"]) == \
            (whole.total_rows, whole.invalid_rows, expected["errors_by_column"]), case
        assert summary["first_errors"] == expected["errors"][:20], case
        assert summary["errors_truncated"] == whole.errors_truncated
        assert summary["file_checksum"] == file_checksum(str(path))
        for kind in ("invalid", "valid"):
            merged = Path(files.local_path(getattr(files, f"{kind}_rows_uri")(task_id)))
            assert merged.read_bytes() == (reference_dir / f"{kind}.csv").read_bytes(), (case, kind)

    assert sorted(p.name for p in (Path(files.root) / "reports").iterdir() if ".part-" in p.name) == []
    announced = wait_for(lambda: (found := events_by_task(amqp, events)) and len(found) == 3 and found,
                         timeout=30, what="the three tasks' events")
    assert {task_id: [e["state"] for e in found] for task_id, found in announced.items()} == \
        {task_id: ["invalid"] for task_id in submitted.values()}
    assert sum(w.log().count(": split ") for w in workers) == 3
    assert _part_runs(workers) == sum(services.tasks.get(t).parts_total for t in submitted.values())


def test_a_file_no_larger_than_a_part_is_run_whole(
    job_settings: TypecheckSettings, import_name: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    small = tmp_path / "small.csv"
    small.write_text("id,name,age\n" + "".join(f"{i},n{i},{i % 100}\n" for i in range(1, 200)))
    assert small.stat().st_size <= PART_BYTES
    worker = start_worker(env=SPLIT)

    task_id = services_for(job_settings).publish_validation(import_name, small.as_uri()).task_id
    status = final_status(job_settings, task_id)

    assert (status.state, status.parts_total, status.parts_done, status.rows_done) == (TaskState.VALID, None, None,
                                                                                       199)
    assert ": split " not in worker.log() and "validating part" not in worker.log()


# --- faults -------------------------------------------------------------------------------


def test_a_worker_killed_mid_part_has_that_part_redone_once(
    amqp: Any, job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    data = _slow_csv(tmp_path / "slow.csv", 900_000)
    long_parts = {**SLOW_SPLIT, "TYPECHECK_SPLIT_BYTES": str(4 * 1024 * 1024)}  # 3 parts of 300,000 rows
    workers = {w.pid: w for w in all_ready(*(start_worker(env=long_parts, wait=False) for _ in range(2)))}
    task_id = services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id

    def started() -> tuple[int, Any] | None:
        for index, holder in _running_parts(job_settings, task_id).items():
            worker = workers[int(holder.split(":")[1])]
            if f"validating part {index + 1} of " in worker.log():
                return index, worker
        return None

    index, victim = wait_for(started, timeout=60, interval=0.02, what="a part to run")
    victim.kill()  # kill -9, mid-part
    parts = services_for(job_settings).parts
    assert not services_for(job_settings).redis.hexists(parts.parts_key(task_id), f"done:{index}"), \
        "the part ended before its worker was killed: make the parts longer"

    final = final_status(job_settings, task_id, timeout=120)
    assert final.state is TaskState.VALID, final.error
    assert (final.rows_done, final.rows_total, final.summary["total_rows"]) == (900_000, 900_000, 900_000)
    assert final.parts_done == final.parts_total and final.parts_total >= 3
    report = services_for(job_settings).files.read_report(task_id)
    assert (report["total_rows"], report["invalid_rows"]) == (900_000, 0)
    label = f"validating part {index + 1} of {final.parts_total} "
    assert sum(w.log().count(label) for w in workers.values()) == 2  # the killed run, and the one redo
    assert _part_runs(list(workers.values())) == final.parts_total + 1
    wait_for(lambda: _events(amqp, events, task_id), timeout=30, what="the task's event")


def test_a_failed_part_fails_the_task_naming_the_part_and_the_rest_stop(
    amqp: Any, job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    import_name: str, tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    data = _slow_csv(tmp_path / "slow.csv", 600_000)
    port = _free_port()
    worker = start_worker("--metrics-port", str(port), env=SLOW_SPLIT)  # one worker: one part after the other
    task_id = services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id
    wait_for(lambda: _running_parts(job_settings, task_id), timeout=60, interval=0.02, what="a part to run")

    data.unlink()  # the parts not yet run find no file

    final = final_status(job_settings, task_id, timeout=120)
    assert final.state is TaskState.FAILED
    assert final.error.startswith("part ") and " (rows " in final.error, final.error
    # The worker finds the file gone before its part starts, or the core while the part opens it.
    assert final.error.endswith(("the file slow.csv does not exist (or is not a regular file)",
                                 "slow.csv: file not found")), final.error
    assert final.parts_done < final.parts_total
    _settle(amqp, [port])
    assert [e["state"] for e in _events(amqp, events, task_id)] == ["failed"]
    with pytest.raises(ReportNotFound):
        services_for(job_settings).files.read_report(task_id)
    assert worker.process.poll() is None


def test_cancelling_a_split_task_stops_all_its_parts(
    amqp: Any, job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    events = bind_events(amqp)
    data = _slow_csv(tmp_path / "slow.csv", 600_000)
    ports = [_free_port(), _free_port()]
    workers = all_ready(*(start_worker("--metrics-port", str(port), env=SLOW_SPLIT, wait=False) for port in ports))
    task_id = services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id
    wait_for(lambda: len(_running_parts(job_settings, task_id)) == 2, timeout=60, interval=0.02,
             what="two parts running at once")

    services_for(job_settings).cancel_validation(task_id, reason="stopped by the DAG")

    _settle(amqp, ports)
    status = services_for(job_settings).tasks.get(task_id)
    assert (status.state, status.error) == (TaskState.FAILED, "stopped by the DAG")
    assert status.parts_done < status.parts_total
    assert sum(w.log().count("stopped: the task is failed") for w in workers) == 2
    assert [e["summary"] for e in _events(amqp, events, task_id)] == [{"error": "stopped by the DAG"}]
    with pytest.raises(ReportNotFound):
        services_for(job_settings).files.read_report(task_id)


def test_sigterm_mid_part_finishes_that_part_and_leaves_the_rest_to_the_pool(
    job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = _slow_csv(tmp_path / "slow.csv", 900_000)
    long_parts = {**SLOW_SPLIT, "TYPECHECK_SPLIT_BYTES": str(4 * 1024 * 1024)}  # the grace period: 20 s
    first = start_worker(env=long_parts)
    task_id = services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id
    wait_for(lambda: "validating part " in first.log(), timeout=60, interval=0.02, what="a part to run")

    assert first.terminate() == 0
    assert first.log().count("state=part done") == 1  # the part it held, and no other
    second = start_worker(env=long_parts)

    final = final_status(job_settings, task_id, timeout=120)
    assert final.state is TaskState.VALID and final.summary["total_rows"] == 900_000
    assert _part_runs([first, second]) == final.parts_total  # no part ran twice


def test_a_part_that_kills_every_worker_fails_the_task_and_is_dead_lettered(
    amqp: Any, job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    from airflow_provider_typecheck.jobs.topology import DEAD_LETTER_QUEUE, REASON_HEADER

    data = _slow_csv(tmp_path / "slow.csv", 900_000)
    long_parts = {**SLOW_SPLIT, "TYPECHECK_SPLIT_BYTES": str(4 * 1024 * 1024)}
    workers = {w.pid: w for w in all_ready(*(start_worker(env=long_parts, wait=False) for _ in range(2)))}
    task_id = services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id
    parts = services_for(job_settings).parts
    poison: int | None = None

    for attempt in range(1, job_settings.poison_worker_deaths + 1):  # the part kills each worker that runs it
        def started(attempt: int = attempt, poison: int | None = poison) -> tuple[int, Any] | None:
            for index, holder in _running_parts(job_settings, task_id).items():
                worker = workers.get(int(holder.split(":")[1]))
                if (poison in (None, index) and parts.attempts(task_id, index) == attempt and worker is not None
                        and worker.log().count(f"validating part {index + 1} of ") == 1):
                    return index, worker
            return None

        poison, victim = wait_for(started, timeout=60, interval=0.02, what=f"run {attempt} of a part")
        workers.pop(victim.pid).kill()
        replacement = start_worker(env=long_parts, wait=False)
        workers[replacement.pid] = replacement

    final = final_status(job_settings, task_id, timeout=120)
    assert final.state is TaskState.FAILED
    assert final.error.startswith(f"workers died 3 times running part {poison + 1} of {final.parts_total} (rows ")
    assert final.error.endswith("taken for a poison message")
    assert (parts.attempts(task_id, poison), parts.deaths(task_id, poison)) == (3, 3)
    [(_, properties, body)] = wait_for(lambda: drain(amqp, DEAD_LETTER_QUEUE), timeout=30, what="the dead letter")
    assert (json.loads(body)["task_id"], json.loads(body)["part"]["index"]) == (task_id, poison)
    assert "taken for a poison message" in properties.headers[REASON_HEADER]


# --- a splitter delivered again -----------------------------------------------------------


def _runner_and_job(import_name: str, tmp_path: Path) -> tuple[Services, Any, ValidationJob]:
    """A job runner in this process (splitting at PART_BYTES) and a recorded whole job it splits."""
    from airflow_provider_typecheck.worker.job import JobRunner

    services = Services(TypecheckSettings(split_bytes=PART_BYTES))
    data = _shaped_csv(tmp_path / "lf.csv", "\n")
    job = ValidationJob(task_id=uuid.uuid4(), import_name=import_name, schema_version=1, file_uri=data.as_uri(),
                        file_name=data.name)
    services.tasks.create(task_id=str(job.task_id), import_name=import_name, file_name=data.name, schema_version=1)
    runner = JobRunner(services.settings, tasks=services.tasks, schemas=services.schemas, files=services.files,
                       limits=services.limits, interrupt=threading.Event(), parts=services.parts)
    return services, runner, job


def test_a_split_job_delivered_again_publishes_only_the_parts_not_done(
    job_env: dict[str, str], import_name: str, tmp_path: Path,  # noqa: F811
) -> None:
    services, runner, job = _runner_and_job(import_name, tmp_path)
    task_id = str(job.task_id)
    try:
        split = runner.handle(job.to_body(), 0)
        parts = [ValidationPartJob.model_validate_json(body) for body in split.publish]
        assert split.action == "ack" and split.event is None and len(parts) >= 4
        assert [p.part.index for p in parts] == list(range(len(parts)))
        for part in (parts[0], parts[2]):
            assert runner.handle(part.to_body(), 0).action == "ack"

        again = runner.handle(job.to_body(), 1, redelivered=True)

        assert again.action == "ack" and again.event is None
        assert [ValidationPartJob.model_validate_json(b).part.index for b in again.publish] == \
            [i for i in range(len(parts)) if i not in (0, 2)]
        assert services.tasks.get(task_id).parts_done == 2
        # A part delivered twice is run once: the second delivery finds it done.
        assert runner.handle(parts[0].to_body(), 1, redelivered=True).run is None
        ends = [runner.handle(p.to_body(), 0) for p in parts if p.part.index not in (0, 2)]
        assert [e.event is not None for e in ends] == [False] * (len(ends) - 1) + [True]
        final = services.tasks.get(task_id)
        assert ends[-1].event.state == "invalid" and final.state is TaskState.INVALID
        assert (final.parts_done, final.rows_done, final.summary["total_rows"]) == (len(parts), 700, 700)
        runner.announced(task_id)
        late = runner.handle(parts[1].to_body(), 3, redelivered=True)
        assert (late.action, late.event, late.publish) == ("ack", None, ())
        assert runner.handle(job.to_body(), 2, redelivered=True) == late  # finished: nothing more
        assert json.loads(Path(services.files.local_path(final.report_uri)).read_text())["total_rows"] == 700
    finally:
        services.close()


def test_a_part_whose_plan_redis_lost_fails_its_task_with_a_reason(
    job_env: dict[str, str], import_name: str, tmp_path: Path,  # noqa: F811
) -> None:
    services, runner, job = _runner_and_job(import_name, tmp_path)
    task_id = str(job.task_id)
    try:
        first = ValidationPartJob.model_validate_json(runner.handle(job.to_body(), 0).publish[0])
        services.parts.forget(task_id)  # as a Redis restart without persistence would

        lost = runner.handle(first.to_body(), 0)

        status = services.tasks.get(task_id)
        assert status.state is TaskState.FAILED and status.error.startswith("the plan of the split file was lost")
        assert (lost.action, lost.event.state, lost.event.summary) == ("ack", "failed", {"error": status.error})
    finally:
        services.close()


def test_split_files_end_right_through_a_broker_restart(
    amqp: Any, job_settings: TypecheckSettings, slow_import: str, start_worker: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Parts in flight, parts queued and a merge to come when the broker stops: every
    task still ends as the whole file's report says, none taken for poison, no row twice."""
    import subprocess

    from airflow_provider_typecheck.validation import validate_file

    data = _slow_csv(tmp_path / "slow.csv", 600_000)
    expected = validate_file(str(data), SLOW_SCHEMA, max_errors=1000).to_dict()
    long_parts = {**SLOW_SPLIT, "TYPECHECK_SPLIT_BYTES": str(2 * 1024 * 1024)}
    workers = all_ready(*(start_worker(env=long_parts, wait=False) for _ in range(2)))
    task_ids = [services_for(job_settings).publish_validation(slow_import, data.as_uri()).task_id for _ in range(2)]
    wait_for(lambda: any(_running_parts(job_settings, task_id) for task_id in task_ids), timeout=60,
             interval=0.02, what="a part to run")
    try:
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=60)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True, timeout=120)

    for task_id in task_ids:
        final = final_status(job_settings, task_id, timeout=240)
        assert final.state is TaskState.VALID, final.error
        assert final.parts_done == final.parts_total and final.parts_total >= 3
        assert (final.rows_done, final.rows_total) == (600_000, 600_000)
        report = services_for(job_settings).files.read_report(task_id)
        for key in ("total_rows", "invalid_rows", "errors_by_column", "errors"):
            assert report[key] == expected[key], key
    assert all(w.process.poll() is None for w in workers)
    assert all("reconnecting in" in w.log() for w in workers)  # the restart reached them
    assert not any("poison" in w.log() for w in workers)
