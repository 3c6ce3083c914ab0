"""One big file across the worker pool: split, validate the parts in parallel, merge.

Needs the machine's RabbitMQ, Redis and PostgreSQL. Works in names of its own, removed at
the end (a virtual host, a Redis key prefix, a PostgreSQL schema, a temporary file store);
workers are real ``typecheck worker`` processes. One 3M-row users CSV (``datagen``), one
run each, side by side in one run (each case the median of ``--rounds`` runs):

* unsplit, 1 worker (``TYPECHECK_SPLIT_BYTES=0``): the reference;
* split, 1 worker, and split, 2 workers (``--part-mb`` per part);
* the same three with each worker pinned to a core of its own (``taskset``, one Polars
  thread): a worker of the core's native scan uses every core it may, so on a 2-core
  machine two unpinned workers only share what one already used; pinned, 1 against 2
  is one machine against two, what a pool of many hosts scales by;
* the split pass alone (``plan_parts`` with the checksum, in this process), and the share
  of the 2-worker run it takes (the task's ``timings.split`` too);
* the file store's read throughput for this file (fsspec, 8 MiB reads; the page cache is
  warm, as after an upload) and sha256's;
* an estimate on paper for a 50 GB file on 16 workers from these figures.

Run: ``.venv/bin/python benchmarks/split_pool.py [--rows 3000000] [--part-mb 32]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
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
MiB = 1024 * 1024


class Pool:
    """A virtual host, key prefix, schema and file store of its own, and the workers started in it."""

    def __init__(self, workdir: Path) -> None:
        token = uuid.uuid4().hex[:10]
        self.vhost = f"typecheck_split_{token}"
        self.prefix = f"typecheck-split:{token}:"
        self.pg_schema = f"typecheck_split_{token}"
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

        self.services = Services(TypecheckSettings())
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_workers(self, count: int, split_bytes: int, *, pinned: bool = False) -> None:
        logs = []
        for index in range(count):
            log = self.workdir / f"worker{len(self.workers)}.log"
            command = [sys.executable, "-m", "airflow_provider_typecheck.cli", "worker"]
            env = {**os.environ, **self.env, "TYPECHECK_SPLIT_BYTES": str(split_bytes)}
            if pinned:  # one core each: sched_getaffinity (the native scan's threads) and Polars see one
                command = ["taskset", "-c", str(index % (os.cpu_count() or 1)), *command]
                env["POLARS_MAX_THREADS"] = "1"
            with open(log, "wb") as out:
                self.workers.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
            logs.append(log)
        for process, log in zip(self.workers[-count:], logs, strict=True):
            while "consuming typecheck.validation" not in log.read_text(errors="replace"):
                if process.poll() is not None:
                    raise SystemExit(f"worker exited: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def stop_workers(self) -> None:
        for process in self.workers:
            process.terminate()
        for process in self.workers:
            process.wait(120)
        self.workers = []

    def run(self, import_name: str, path: Path) -> tuple[float, dict]:
        """Publish one job for ``path``; return publish -> final status (s) and the final status."""
        started = time.perf_counter()
        task_id = self.services.publish_validation(import_name, path.as_uri()).task_id
        self.wait([task_id])
        seconds = time.perf_counter() - started
        return seconds, self.services.tasks.get(task_id).model_dump(mode="json")

    def warm(self, import_name: str, small: Path, jobs: int) -> None:
        """Small jobs first, so that each worker has imported and compiled what the big one needs."""
        self.wait([self.services.publish_validation(import_name, small.as_uri()).task_id for _ in range(jobs)])

    def wait(self, task_ids: list[str]) -> None:
        tasks = self.services.tasks
        for task_id in task_ids:
            while (state := self.services.redis.hget(tasks.task_key(task_id), "state")) is None \
                    or state.decode() not in FINISHED:
                time.sleep(0.02)

    def close(self) -> None:
        self.stop_workers()
        client = self.services.redis
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
        if keys:
            client.delete(*keys)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True)
        import psycopg2

        with closing(psycopg2.connect(POSTGRES_URI)) as conn, conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{self.pg_schema}" CASCADE')
            conn.commit()


def read_throughput(path: Path) -> tuple[float, float]:
    """Bytes per second reading ``path`` through fsspec (8 MiB reads), and hashing it with sha256."""
    import fsspec

    size = path.stat().st_size
    started = time.perf_counter()
    with fsspec.open(path.as_uri(), "rb") as handle:
        while handle.read(8 * MiB):
            pass
    read = size / (time.perf_counter() - started)
    digest = hashlib.sha256()
    data = path.read_bytes()[: 512 * MiB]
    started = time.perf_counter()
    digest.update(data)
    return read, len(data) / (time.perf_counter() - started)


def split_pass(path: Path, part_bytes: int) -> tuple[float, float, int]:
    """
    Seconds of the split pass as a worker runs it (``plan_parts`` while a second thread
    takes the checksum), of ``plan_parts`` alone (an upload's checksum is known), and the parts.
    """
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_typecheck.jobs.filestore import file_checksum
    from airflow_provider_typecheck.validation.parts import plan_parts

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as hashing:
        digest = hashing.submit(file_checksum, str(path))
        plan = plan_parts(str(path), part_bytes=part_bytes)
        digest.result()
    with_checksum = time.perf_counter() - started
    started = time.perf_counter()
    plan = plan_parts(str(path), part_bytes=part_bytes)
    assert plan is not None, "the file was not split"
    return with_checksum, time.perf_counter() - started, len(plan.parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--part-mb", type=int, default=32, help="TYPECHECK_SPLIT_BYTES of the split runs, in MiB")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each case; the median is kept (default 3)")
    ap.add_argument("--slow-schema", action="store_true",
                    help="add a pattern with a lookahead to email: python's re checks every distinct value, "
                         "a schema whose validation is slow against the read")
    args = ap.parse_args(argv)

    path = datagen.DATA_DIR / f"users_{args.rows}.csv"
    if not path.exists():
        print(f"generating {path.name}", file=sys.stderr)
        datagen.DATA_DIR.mkdir(parents=True, exist_ok=True)
        datagen.write_users(path, args.rows)
    size = path.stat().st_size
    part_bytes = args.part_mb * MiB
    workdir = Path(tempfile.mkdtemp(prefix="typecheck-bench-split-"))
    small = workdir / "small.csv"
    with path.open() as users:
        small.write_text("".join(next(users) for _ in range(1001)))  # the header and 1,000 rows
    pool = Pool(workdir)
    results: dict[str, tuple[float, dict]] = {}
    try:
        schema = datagen.users_schema()
        if args.slow_schema:
            schema["properties"]["email"]["pattern"] = "^(?=[a-z])[^@]+@[^@]+$"
        pool.services.schemas.put("users", schema, new_version=True, actor="bench")
        read, sha = read_throughput(path)  # also warms the page cache for every run below
        plan_seconds, plan_only, parts = split_pass(path, part_bytes)
        load = os.getloadavg()
        for pinned in (False, True):
            for name, workers, split in (("unsplit, 1 worker", 1, 0), ("split, 1 worker", 1, part_bytes),
                                         ("split, 2 workers", 2, part_bytes)):
                pool.start_workers(workers, split, pinned=pinned)
                pool.warm("users", small, 4 * workers)
                runs = sorted((pool.run("users", path) for _ in range(args.rounds)), key=lambda run: run[0])
                results[f"{name}{', a core each' if pinned else ''}"] = runs[len(runs) // 2]
                pool.stop_workers()
    finally:
        pool.close()
        shutil.rmtree(workdir, ignore_errors=True)

    base = results["unsplit, 1 worker"][0]
    one, two = results["split, 1 worker"][0], results["split, 2 workers"][0]
    base_pinned = results["unsplit, 1 worker, a core each"][0]
    one_pinned = results["split, 1 worker, a core each"][0]
    two_pinned = results["split, 2 workers, a core each"][0]
    rows = {name: status["summary"]["total_rows"] for name, (_, status) in results.items()}
    invalid = {name: status["summary"]["invalid_rows"] for name, (_, status) in results.items()}
    assert len(set(rows.values())) == 1 and len(set(invalid.values())) == 1, (rows, invalid)
    timings = results["split, 2 workers, a core each"][1]["summary"]["timings"]
    lines = [
        f"## One file across the pool (`python benchmarks/split_pool.py --rows {args.rows} "
        f"--part-mb {args.part_mb}{' --slow-schema' if args.slow_schema else ''}`)", "",
        f"{args.rows:,} rows, {size / MiB:.0f} MiB, {parts} parts of {args.part_mb} MiB; 2 cores shared with "
        f"other work (load {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start); each case the median "
        f"of {args.rounds} runs, side by side; publish -> final status, each worker warmed by small jobs first; "
        f"every run {rows['split, 2 workers']:,} rows, "
        f"{invalid['split, 2 workers']:,} invalid.", "",
        "| run | seconds | vs unsplit, 1 worker (same pinning) |", "|---|---|---|",
        *(f"| {name} | {seconds:.2f} | {(base_pinned if 'core' in name else base) / seconds:.2f}x |"
          for name, (seconds, _) in results.items()), "",
        f"2 workers vs 1, both split: **{one / two:.2f}x** unpinned, **{one_pinned / two_pinned:.2f}x** a core "
        f"each; 2 workers split vs 1 worker unsplit: {base / two:.2f}x unpinned, "
        f"**{base_pinned / two_pinned:.2f}x** a core each.",
        f"Split pass alone (as a worker runs it: `plan_parts` while a thread takes the checksum; this process, "
        f"both cores): {plan_seconds:.2f} s ({size / plan_seconds / MiB:.0f} MiB/s; the plan alone {plan_only:.2f} s), "
        f"**{plan_seconds / two_pinned:.0%}** of the 2-worker run "
        f"(a core each; its own timings: split {timings.get('split', float('nan')):.2f} s, merge "
        f"{timings.get('merge', float('nan')):.2f} s, total {timings.get('total', float('nan')):.2f} s).",
        f"File store read throughput (local file, page cache warm): {read / MiB:.0f} MiB/s; sha256 "
        f"{sha / MiB:.0f} MiB/s.",
    ]
    # On paper: 50 GB on 16 workers of one core each. The split pass is one worker reading
    # the whole file; the parts then run at the 1-worker rate per worker, scaled by the
    # 2-worker efficiency measured here, and no faster than the store serves all 16 at once.
    big = 50 * 1000**3
    per_worker = size / max(one_pinned - plan_seconds, 1e-9)  # bytes/s one worker validates, parts only
    efficiency = min(1.0, (one_pinned - plan_seconds) / max(two_pinned - plan_seconds, 1e-9) / 2)
    pool_rate = min(16 * per_worker * efficiency, read)
    split_big = big / (size / plan_seconds)
    merge_big = timings.get("merge", 0.0) * big / size
    lines += [
        "", f"On paper, 50 GB on 16 workers: split pass {split_big:.0f} s (one worker at "
        f"{size / plan_seconds / MiB:.0f} MiB/s) + parts {big / pool_rate:.0f} s (16 x "
        f"{per_worker / MiB:.0f} MiB/s x {efficiency:.2f} efficiency = {16 * per_worker * efficiency / MiB:.0f} "
        f"MiB/s, capped by the store's {read / MiB:.0f} MiB/s) + merge ~{merge_big:.0f} s = "
        f"**~{(split_big + big / pool_rate + merge_big) / 60:.0f} min**, against "
        f"~{big / (size / base_pinned) / 60:.0f} min on one such worker unsplit "
        f"(~{big / (size / base) / 60:.0f} min on one worker with both cores).",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
