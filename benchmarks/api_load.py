"""Load on the REST API over loopback: concurrent clients upload small files and poll each to the end.

Starts its own ``typecheck api`` (uvicorn) and ``typecheck worker`` on 127.0.0.1, in names
of its own (a PostgreSQL schema, a Redis key prefix and a RabbitMQ virtual host, all
removed at the end), and prints latency percentiles, jobs per second and the error count.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--jobs-per-client 4] [--api-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

POSTGRES_URI = os.environ.get("TYPECHECK_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URI = os.environ.get("TYPECHECK_TEST_REDIS_URI", "redis://127.0.0.1:6379")
ADMIN, PASSWORD = "bench-admin", "bench-admin-password"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"},
                   "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "email"],
}
CSV = ("name,email,age\n" + "".join(f"user {i},user{i}@example.com,{i % 90}\n" for i in range(200))
       + "bad,,-1\n").encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def client_run(base: str, jobs: int, samples: dict[str, list[float]], errors: list[str], name: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        login = await client.post("/login/access-token", data={"username": ADMIN, "password": PASSWORD})
        samples["login"].append(time.perf_counter() - started)
        if login.status_code != 200:
            errors.append(f"login {login.status_code}")
            return
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(jobs):
            job_started = time.perf_counter()
            samples["first_upload"].append(job_started)
            upload = await client.post(f"/validation/upload/{name}", headers=headers,
                                       files={"spreadsheet_file": ("users.csv", CSV)})
            samples["upload"].append(time.perf_counter() - job_started)
            if upload.status_code != 202:
                errors.append(f"upload {upload.status_code}: {upload.text[:200]}")
                continue
            task_id = upload.json()["task_id"]
            while True:
                asked = time.perf_counter()
                status = await client.get("/validation/status", params={"task_id": task_id}, headers=headers)
                samples["status"].append(time.perf_counter() - asked)
                if status.status_code != 200:
                    errors.append(f"status {status.status_code}")
                    break
                state = status.json()["state"]
                if state in ("valid", "invalid", "failed"):
                    if state != "invalid" or status.json()["summary"]["invalid_rows"] != 1:
                        errors.append(f"task {task_id} ended {state}: {status.json().get('error')}")
                    samples["job"].append(time.perf_counter() - job_started)
                    samples["finished"].append(time.perf_counter())
                    break
                await asyncio.sleep(0.05)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs-per-client", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:10]
    schema, vhost, prefix = f"typecheck_bench_{tag}", f"typecheck_bench_{tag}", f"typecheck-bench:{tag}:"
    store = tempfile.mkdtemp(prefix="typecheck-bench-")
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="typecheck-bench-airflow-"),
        "AIRFLOW_CONN_POSTGRES_DEFAULT": POSTGRES_URI,
        "AIRFLOW_CONN_REDIS_DEFAULT": REDIS_URI,
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "TYPECHECK_SCHEMA_STORE": "postgres",
        "TYPECHECK_POSTGRES_SCHEMA": schema,
        "TYPECHECK_REDIS_PREFIX": prefix,
        "TYPECHECK_STORAGE_URI": Path(store).as_uri(),
        "TYPECHECK_JWT_SECRET": secrets.token_urlsafe(32),
        "TYPECHECK_FIRST_ADMIN_USERNAME": ADMIN,
        "TYPECHECK_FIRST_ADMIN_PASSWORD": PASSWORD,
    }
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    cli = [sys.executable, "-m", "airflow_provider_typecheck.cli"]
    logs = Path(store)
    processes = [
        subprocess.Popen([*cli, "worker", "--concurrency", str(args.worker_concurrency)], env=env,
                         stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT),
        subprocess.Popen([*cli, "api", "--host", "127.0.0.1", "--port", str(port), "--workers",
                          str(args.api_workers)], env=env,
                         stdout=(logs / "api.log").open("wb"), stderr=subprocess.STDOUT),
    ]
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthcheck/simple").status_code == 200 and \
                        "consuming typecheck.validation" in (logs / "worker.log").read_text(errors="replace"):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API or the worker did not start; see " + store)
            time.sleep(0.3)
        token = httpx.post(f"{base}/login/access-token", data={"username": ADMIN, "password": PASSWORD}).json()
        name = f"bench_{tag}"
        httpx.post(f"{base}/schemas/upload/{name}", json=SCHEMA,
                   headers={"Authorization": f"Bearer {token['access_token']}"}).raise_for_status()

        samples: dict[str, list[float]] = {"login": [], "upload": [], "status": [], "job": [],
                                           "first_upload": [], "finished": []}
        errors: list[str] = []
        started = time.perf_counter()

        async def everyone() -> None:
            await asyncio.gather(*(client_run(base, args.jobs_per_client, samples, errors, name)
                                   for _ in range(args.clients)))

        asyncio.run(everyone())
        wall = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        rabbitmqctl("delete_vhost", vhost)
        import psycopg
        import redis

        with psycopg.connect(POSTGRES_URI, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS_URI)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)

    jobs = len(samples["job"])
    print(f"{args.clients} clients x {args.jobs_per_client} uploads of a {len(CSV):,}-byte CSV (201 rows), "
          f"API workers {args.api_workers}, worker processes {args.worker_concurrency}, 127.0.0.1")
    print(f"| request | count | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for kind in ("login", "upload", "status", "job"):
        values = [v * 1000 for v in samples[kind]]
        if values:
            print(f"| {kind if kind != 'job' else 'upload to finished (end to end)'} | {len(values)} | "
                  f"{statistics.median(values):.1f} | {percentile(values, 99):.1f} | {max(values):.1f} |")
    # Logins are deliberately slow (Argon2): jobs per second counts from the first upload.
    busy = max(samples["finished"], default=0) - min(samples["first_upload"], default=0)
    print(f"jobs finished: {jobs} in {wall:.2f} s with the logins, {busy:.2f} s from the first upload to the "
          f"last result = {jobs / busy if busy > 0 else 0:.1f} jobs/s; errors: {len(errors)}")
    for error in errors[:10]:
        print("  error:", error)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
