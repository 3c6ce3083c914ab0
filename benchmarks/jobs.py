"""Validation jobs end to end: publish -> worker -> final status, against the CLI on the same files.

Needs the machine's RabbitMQ, Redis and PostgreSQL (as ``make test`` starts them). Works
in names of its own, removed at the end: a RabbitMQ virtual host, a Redis key prefix, a
PostgreSQL schema and a temporary file store. Workers are real ``typecheck worker``
processes. Measures:

* end to end, publish -> final status in Redis, for the seed's 10k x 100 file (``wide``)
  and the 1M-row ``users`` file, against ``typecheck validate`` on the same file;
* throughput of small jobs (100 rows) with 1 and 2 workers, all published at once;
* the cost the queue adds per job: publish -> final status, less the validation's own
  time in the report (median, p99), jobs sent one at a time;
* a worker's RSS over 200 jobs (VmRSS after every 20, and VmHWM).

Run: ``.venv/bin/python benchmarks/jobs.py [--rounds 3] [--append]``; ``--append`` adds
the printed section to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import datagen  # noqa: E402

RABBITMQ = os.environ.get("TYPECHECK_TEST_RABBITMQ_HOST", "127.0.0.1:5672")
REDIS_URI = os.environ.get("TYPECHECK_TEST_REDIS_URI", "redis://127.0.0.1:6379")
POSTGRES_URI = os.environ.get("TYPECHECK_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
FINISHED = {"valid", "invalid", "failed"}


class Bench:
    def __init__(self, workdir: Path) -> None:
        token = uuid.uuid4().hex[:10]
        self.vhost = f"typecheck_bench_{token}"
        self.prefix = f"typecheck-bench:{token}:"
        self.pg_schema = f"typecheck_bench_{token}"
        self.workdir = workdir
        self.env = {
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@{RABBITMQ}/{self.vhost}",
            "AIRFLOW_CONN_REDIS_DEFAULT": REDIS_URI,
            "AIRFLOW_CONN_POSTGRES_DEFAULT": POSTGRES_URI,
            "TYPECHECK_SCHEMA_STORE": "postgres",
            "TYPECHECK_POSTGRES_SCHEMA": self.pg_schema,
            "TYPECHECK_REDIS_PREFIX": self.prefix,
            "TYPECHECK_STORAGE_URI": (workdir / "store").as_uri(),
        }
        os.environ.update(self.env)
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        from airflow_provider_typecheck.services import Services
        from airflow_provider_typecheck.settings import TypecheckSettings

        self.settings = TypecheckSettings()
        self.services = Services(self.settings)
        self.schemas = self.services.schemas
        self.tasks = self.services.tasks
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        started = []
        for i in range(count):
            log = open(self.workdir / f"worker{len(self.workers)}.log", "wb")  # noqa: SIM115
            process = subprocess.Popen([sys.executable, "-m", "airflow_provider_typecheck.cli", "worker"],
                                       env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)
            process.log_path = log.name  # type: ignore[attr-defined]
            self.workers.append(process)
            started.append(process)
        for process in started:
            while "consuming typecheck.validation" not in Path(process.log_path).read_text(errors="replace"):  # type: ignore[attr-defined]
                if process.poll() is not None:
                    raise SystemExit(f"worker exited: {Path(process.log_path).read_text()[-2000:]}")  # type: ignore[attr-defined]
                time.sleep(0.1)
        return started

    def stop_workers(self) -> None:
        for process in self.workers:
            process.terminate()
        for process in self.workers:
            process.wait(60)
        self.workers = []

    def wait(self, task_ids: list[str], poll: float = 0.002) -> dict[str, float]:
        """Wait for every task to finish; return when each was first seen finished (perf_counter)."""
        client = self.tasks._client()
        seen: dict[str, float] = {}
        pending = list(task_ids)
        while pending:
            pipe = client.pipeline(transaction=False)
            for task_id in pending:
                pipe.hget(self.tasks.task_key(task_id), "state")
            now = time.perf_counter()
            still = []
            for task_id, state in zip(pending, pipe.execute(), strict=True):
                if state is not None and state.decode() in FINISHED:
                    seen[task_id] = now
                else:
                    still.append(task_id)
            pending = still
            if pending:
                time.sleep(poll)
        return seen

    def close(self) -> None:
        self.stop_workers()
        client = self.tasks._client()
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
        if keys:
            client.delete(*keys)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True)
        import psycopg2

        with closing(psycopg2.connect(POSTGRES_URI)) as conn, conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{self.pg_schema}" CASCADE')
            conn.commit()


def cli_seconds(path: Path, schema_path: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("typecheck")), "validate", str(path), "--schema",
                    str(schema_path), "--format", "json"], capture_output=True, check=False)
    return time.perf_counter() - started


def in_process_seconds(path: Path, schema_path: Path) -> float:
    import json

    from airflow_provider_typecheck.validation import validate_file

    schema = json.loads(schema_path.read_text())
    started = time.perf_counter()
    validate_file(str(path), schema)
    return time.perf_counter() - started


def end_to_end(bench: Bench, import_name: str, path: Path, rounds: int) -> list[float]:

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        task_id = bench.services.publish_validation(import_name, path.as_uri()).task_id
        times.append(bench.wait([task_id])[task_id] - started)
    return times


def throughput(bench: Bench, import_name: str, path: Path, jobs: int) -> float:

    started = time.perf_counter()
    task_ids = [bench.services.publish_validation(import_name, path.as_uri()).task_id for _ in range(jobs)]
    seen = bench.wait(task_ids, poll=0.05)  # polling 300 statuses often would compete with the workers
    return jobs / (max(seen.values()) - started)


def overhead(bench: Bench, import_name: str, path: Path, jobs: int) -> list[float]:

    costs = []
    for _ in range(jobs):
        started = time.perf_counter()
        task_id = bench.services.publish_validation(import_name, path.as_uri()).task_id
        done = bench.wait([task_id], poll=0.0005)[task_id]
        costs.append(done - started - bench.tasks.get(task_id).summary["elapsed_seconds"])
    return costs


def rss_series(bench: Bench, worker: subprocess.Popen[bytes], import_name: str, path: Path) -> tuple[list[int], int]:

    def status_kb(field: str) -> int:
        for line in Path(f"/proc/{worker.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        raise KeyError(field)

    series = []
    for _ in range(10):
        task_ids = [bench.services.publish_validation(import_name, path.as_uri()).task_id for _ in range(20)]
        bench.wait(task_ids, poll=0.01)
        series.append(status_kb("VmRSS:"))
    return series, status_kb("VmHWM:")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small-jobs", type=int, default=300, help="jobs per throughput run (default 300)")
    ap.add_argument("--append", action="store_true", help="append the section to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    paths = datagen.dataset_paths(1_000_000)
    if not paths["users"].exists() or not paths["wide"].exists():
        datagen.ensure_datasets(1_000_000)
    workdir = Path(tempfile.mkdtemp(prefix="typecheck-bench-jobs-"))
    small = workdir / "small.csv"
    with paths["users"].open() as users:
        small.write_text("".join(next(users) for _ in range(101)))  # the header and 100 rows
    bench = Bench(workdir)
    lines: list[str] = []
    try:
        bench.schemas.put("users", datagen.users_schema(), new_version=True, actor="bench")
        bench.schemas.put("wide", datagen.wide_schema(), new_version=True, actor="bench")
        load = os.getloadavg()
        lines += ["", "## Validation jobs (`python benchmarks/jobs.py`)", "",
                  f"2 cores shared with other work: load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
                  f"at the start; each figure is the median of {args.rounds} rounds unless said otherwise; "
                  "the CLI and the jobs run on the same files in the same run.", ""]
        [worker] = bench.start_workers(1)
        lines += ["| file | `validate_file` in this process | CLI (`typecheck validate`, a new process) "
                  "| job: publish -> final status | job / CLI | seed |",
                  "|---|---|---|---|---|---|"]
        for name, seed in (("wide", "41 s"), ("users", "")):
            path = paths[name]
            schema_path = path.parent / f"{name}.schema.json"
            end_to_end(bench, name, path, 1)  # warm the worker's schema cache and the page cache
            cli = statistics.median(cli_seconds(path, schema_path) for _ in range(args.rounds))
            local = statistics.median(in_process_seconds(path, schema_path) for _ in range(args.rounds))
            job = statistics.median(end_to_end(bench, name, path, args.rounds))
            label = "wide: 10,000 rows x 100 columns" if name == "wide" else "users: 1,000,000 rows x 10 columns"
            lines.append(f"| {label} | {local:.3f} s | {cli:.3f} s | **{job:.3f} s** | {job / cli:.2f}x | {seed} |")

        costs = overhead(bench, "users", small, 200)
        lines += ["", f"Queue cost per job (100-row file, one job at a time, 200 jobs; publish -> final status "
                  f"less the validation's own time): median **{statistics.median(costs) * 1000:.1f} ms**, "
                  f"p99 {pct(costs, 0.99) * 1000:.1f} ms."]
        series, peak = rss_series(bench, worker, "users", small)
        lines += ["", f"Worker RSS over 200 small jobs (after every 20, MB): "
                  f"{', '.join(f'{kb / 1024:.0f}' for kb in series)}; peak (VmHWM, includes the 1M-row "
                  f"files above) {peak / 1024:.0f} MB; growth from job 20 to 200: "
                  f"{(series[-1] - series[0]) / 1024:+.1f} MB."]
        one = statistics.median(throughput(bench, "users", small, args.small_jobs) for _ in range(args.rounds))
        bench.start_workers(1)
        two = statistics.median(throughput(bench, "users", small, args.small_jobs) for _ in range(args.rounds))
        lines += ["", f"Throughput of 100-row jobs ({args.small_jobs} published at once, publish of the first to "
                  f"final status of the last): 1 worker **{one:.0f} jobs/s**, 2 workers **{two:.0f} jobs/s** "
                  f"({two / one:.2f}x; the publisher shares the same 2 cores)."]
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with open(HERE / "RESULTS.md", "a") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
