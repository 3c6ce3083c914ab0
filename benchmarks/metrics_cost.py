"""What a worker's metrics add to a job: the same jobs with and without them, in one run.

A worker with ``--metrics-port`` does, per job, a few things more than one without: it
resets and reads the process's peak RSS (``/proc/self/clear_refs``, ``/proc/self/status``),
stats the job's file for its size, moves the in-flight gauge twice and observes four
histograms and a counter. This runs the validation core on the same small files, each
round once with that work and once without (alternating, so the machine's load falls on
both alike), and prints medians and the ratio; then the metrics' work alone, in a tight
loop, as microseconds per job.

Run: ``.venv/bin/python benchmarks/metrics_cost.py [--rounds 200]``. Needs no service.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_typecheck.metrics import PeakRss, WorkerMetrics  # noqa: E402
from airflow_provider_typecheck.validation import validate_file  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string", "minLength": 1},
                   "age": {"type": "integer", "minimum": 0, "maximum": 150}},
    "required": ["id", "name"],
}


def _file(folder: Path, rows: int) -> Path:
    path = folder / f"users_{rows}.csv"
    path.write_text("id,name,age\n" + "".join(f"{i},name{i % 997},{i % 100}\n" for i in range(rows)))
    return path


def _job(path: Path, metrics: WorkerMetrics | None, peak: PeakRss) -> None:
    if metrics is None:
        validate_file(str(path), SCHEMA)
        return
    metrics.jobs_in_flight.inc()
    peak.reset()
    started = time.monotonic()
    report = validate_file(str(path), SCHEMA)
    metrics.job_finished("valid" if report.is_valid else "invalid", seconds=time.monotonic() - started,
                         rows=report.total_rows, size=os.path.getsize(path), peak_rss=peak.read())
    metrics.jobs_in_flight.dec()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    metrics, peak = WorkerMetrics(), PeakRss()
    with tempfile.TemporaryDirectory() as folder:
        print(f"| job | without metrics (median) | with metrics (median) | ratio | rounds |")
        print("| --- | --- | --- | --- | --- |")
        for rows in (100, 20_000):
            path = _file(Path(folder), rows)
            for _ in range(5):  # warm up: imports, caches
                _job(path, metrics, peak)
            timings: dict[bool, list[float]] = {False: [], True: []}
            for index in range(args.rounds * 2):
                with_metrics = index % 2 == 1
                started = time.perf_counter()
                _job(path, metrics if with_metrics else None, peak)
                timings[with_metrics].append(time.perf_counter() - started)
            without, with_ = statistics.median(timings[False]), statistics.median(timings[True])
            print(f"| {rows:,} rows | {without * 1000:.2f} ms | {with_ * 1000:.2f} ms | {with_ / without:.3f} |"
                  f" {args.rounds} |")
        loops = 20_000
        started = time.perf_counter()
        for _ in range(loops):
            metrics.jobs_in_flight.inc()
            peak.reset()
            metrics.job_finished("valid", seconds=0.01, rows=100, size=os.path.getsize(path), peak_rss=peak.read())
            metrics.jobs_in_flight.dec()
        alone = (time.perf_counter() - started) / loops
        print(f"\nthe metrics' own work: {alone * 1e6:.1f} µs per job ({loops:,} in a loop)")


if __name__ == "__main__":
    main()
