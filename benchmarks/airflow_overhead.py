"""What SpreadsheetValidateOperator adds over the CLI on the same file, local and worker mode.

One run, same file, same machine, median of ``--rounds``:

* ``cli``: ``typecheck validate FILE --schema S --format json`` as a process (the baseline);
* ``core``: ``validate_file`` in a warm process (what both modes run);
* ``operator local``: ``SpreadsheetValidateOperator(mode="local").execute()`` in a warm process
  (adds the file's sha256 and the XCom summary);
* ``operator worker``: ``mode="worker"``, waiting in the task (``deferrable=False``, status read
  every 50 ms): publish to RabbitMQ, a real ``typecheck worker`` process validates, the task
  reads the result from Redis. A deferred task adds the triggerer's hand-off on top.

Needs the local PostgreSQL, Redis and RabbitMQ (as the tests do); everything it creates
(a RabbitMQ vhost, a PostgreSQL schema, Redis keys under its own prefix, a temp folder)
is removed at the end. Usage: ``python benchmarks/airflow_overhead.py [--rows N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from benchmarks.datagen import users_schema, write_json, write_users

    work = Path(tempfile.mkdtemp(prefix="typecheck-bench-"))
    data, schema_path = work / "users.csv", work / "users.schema.json"
    write_users(data, args.rows)
    write_json(schema_path, users_schema())

    token = uuid.uuid4().hex[:10]
    vhost, pg_schema, prefix = f"typecheck_bench_{token}", f"typecheck_bench_{token}", f"typecheck-bench:{token}:"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "AIRFLOW_CONN_REDIS_DEFAULT": "redis://127.0.0.1:6379",
        "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgresql://postgres@127.0.0.1:5432/postgres",
        "TYPECHECK_SCHEMA_STORE": "postgres",
        "TYPECHECK_POSTGRES_SCHEMA": pg_schema,
        "TYPECHECK_REDIS_PREFIX": prefix,
        "TYPECHECK_STORAGE_URI": (work / "store").as_uri(),
    }
    os.environ.update(env)
    worker = subprocess.Popen([sys.executable, "-m", "airflow_provider_typecheck.cli", "worker"],
                              env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator
        from airflow_provider_typecheck.services import get_services
        from airflow_provider_typecheck.validation import load_schema, validate_file

        schema = load_schema(schema_path)
        get_services().schemas.put("bench_users", schema, new_version=False, actor="bench")
        import logging

        # The verdict's warning on every round would drown the table.
        logging.getLogger("airflow.task").setLevel(logging.ERROR)
        local = SpreadsheetValidateOperator(task_id="v", import_name="bench_users", file=str(data),
                                            schema_path=str(schema_path), on_invalid="warn")
        remote = SpreadsheetValidateOperator(task_id="v", import_name="bench_users", file=str(data), mode="worker",
                                             deferrable=False, poll_interval=0.05, on_invalid="warn", timeout=600)
        cli = [str(ROOT / ".venv/bin/typecheck"), "validate", str(data), "--schema", str(schema_path), "--format", "json"]
        approaches = {
            "cli (process)": lambda: subprocess.run(cli, stdout=subprocess.DEVNULL, check=False),
            "core validate_file": lambda: validate_file(str(data), schema),
            "operator local": lambda: local.execute({}),
            "operator worker": lambda: remote.execute({}),
        }
        for run in approaches.values():  # warm-up: imports, compiled schema cache, worker's first job
            run()
        times: dict[str, list[float]] = {name: [] for name in approaches}
        for _ in range(args.rounds):
            for name, run in approaches.items():
                times[name].append(timed(run))
        base = statistics.median(times["cli (process)"])
        core = statistics.median(times["core validate_file"])
        print(f"{args.rows:,} rows x 10 columns (users), median of {args.rounds} rounds")
        print(f"  {'':<20} {'time':>9}  {'vs CLI':>7}  {'over the core':>13}")
        for name, samples in times.items():
            median = statistics.median(samples)
            print(f"  {name:<20} {median:7.3f} s  {median / base:6.2f}x  {median - core:+11.3f} s")
    finally:
        worker.terminate()
        worker.wait(60)
        rabbitmqctl("delete_vhost", vhost)
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE'],
                       check=False, capture_output=True)
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379")
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
