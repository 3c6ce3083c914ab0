"""Metrics in Prometheus' text format, for the workers and the REST API.

Each part owns a :class:`~prometheus_client.CollectorRegistry` of its own (never the
process-wide default one), so two apps or two workers built in one process (tests) never
collide. Labels carry no user data: job states, route templates, methods, status codes
and queue names only; never an import name, a file name or a path.

- :class:`WorkerMetrics`: what a worker process did (``typecheck worker --metrics-port``).
- :class:`ApiMetrics`: HTTP requests by route template, plus readings of the services
  taken at scrape time (queue depths, tasks by state, live workers, cache hits).

Nothing here connects to a service; the readings are callables handed in by the caller.
prometheus_client is imported on first use, not with this module: the operator imports
:func:`report_to_airflow_stats` at DAG-parse time.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_ROWS = (10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
_MIB = 1024 * 1024
_BYTES = (64 * 1024, _MIB, 8 * _MIB, 64 * _MIB, 256 * _MIB, 1024 * _MIB, 4096 * _MIB, 16384 * _MIB)
_HTTP_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    """One worker process's counters; served by :meth:`serve` on ``--metrics-port``."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_finished = Counter("typecheck_jobs_finished", "Jobs this worker finished, by final state.",
                                     ["state"], registry=r)
        for state in ("valid", "invalid", "failed"):
            self.jobs_finished.labels(state)  # present at 0 from the start, so rate() sees the first one
        self.jobs_requeued = Counter("typecheck_jobs_requeued", "Jobs given back to the queue (stopping, Redis lost).",
                                     registry=r)
        self.job_duration = Histogram("typecheck_job_duration_seconds", "Time a job ran, claim to final status.",
                                      buckets=_SECONDS, registry=r)
        self.job_rows = Histogram("typecheck_job_rows", "Rows checked per job.", buckets=_ROWS, registry=r)
        self.job_bytes = Histogram("typecheck_job_bytes", "Size of each job's file.", buckets=_BYTES, registry=r)
        self.job_peak_rss = Histogram("typecheck_job_peak_rss_bytes",
                                      "Peak resident memory of the process while a job ran.", buckets=_BYTES,
                                      registry=r)
        self.jobs_in_flight = Gauge("typecheck_jobs_in_flight", "Jobs this worker holds now.", registry=r)
        self.reconnects = Counter("typecheck_worker_reconnects", "Times the RabbitMQ connection was lost.",
                                  registry=r)
        # Files split across the pool (TYPECHECK_SPLIT_BYTES): the split, each part, the merge.
        self.splits = Counter("typecheck_file_splits", "Files this worker split into parts for the pool.",
                              registry=r)
        self.parts_validated = Counter("typecheck_file_parts_validated",
                                       "Parts of split files this worker validated.", registry=r)
        self.merges = Counter("typecheck_file_merges", "Split files whose parts this worker merged into one report.",
                              registry=r)

    def job_finished(self, state: str, *, seconds: float, rows: int | None, size: int | None,
                     peak_rss: int | None) -> None:
        self.jobs_finished.labels(state).inc()
        self.job_duration.observe(seconds)
        if rows is not None:
            self.job_rows.observe(rows)
        if size is not None:
            self.job_bytes.observe(size)
        if peak_rss is not None:
            self.job_peak_rss.observe(peak_rss)

    def serve(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from outside
        """Serve ``/metrics`` on ``port`` from a daemon thread."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=address, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", address, port)


class PeakRss:
    """
    The peak resident memory of this process during one job.

    On Linux, writing 5 to ``/proc/self/clear_refs`` resets the peak (``VmHWM``), so the
    peak read at the end is the job's own; jobs that overlap (``--prefetch`` above 1)
    share it. Elsewhere it is the process's peak so far.
    """

    _CLEAR_REFS = "/proc/self/clear_refs"
    _STATUS = "/proc/self/status"

    def __init__(self) -> None:
        self._resettable = sys.platform.startswith("linux") and os.access(self._CLEAR_REFS, os.W_OK)

    def reset(self) -> None:
        if self._resettable:
            try:
                with open(self._CLEAR_REFS, "w") as out:
                    out.write("5")
            except OSError:
                self._resettable = False

    def read(self) -> int:
        if self._resettable:
            try:
                with open(self._STATUS, "rb") as status:
                    text = status.read()
                start = text.index(b"VmHWM:") + 6
                return int(text[start : text.index(b"kB", start)]) * 1024
            except (OSError, ValueError):
                pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class ServiceReadings:
    """Where :class:`ApiMetrics` reads the state of the pipeline at each scrape."""

    queue_depths: Callable[[], dict[str, int]]
    state_counts: Callable[[], dict[str, int]]
    live_workers: Callable[[], int]
    cache_hits_misses: Callable[[], tuple[int, int]]


class ApiMetrics:
    """The REST API's registry: requests it served, and the pipeline read at scrape time."""

    def __init__(self, readings: ServiceReadings | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("typecheck_http_requests", "HTTP requests served, by route template and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("typecheck_http_request_duration_seconds", "Time to serve a request.",
                                 ["route", "method"], buckets=_HTTP_SECONDS, registry=self.registry)
        if readings is not None:
            self.registry.register(_PipelineCollector(readings))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _PipelineCollector:
    """Reads the services on each scrape; a service that does not answer is ``up 0``, not an error."""

    def __init__(self, readings: ServiceReadings) -> None:
        self.readings = readings

    def describe(self) -> list[Metric]:
        return []  # nothing read at registration: no service is touched before a scrape

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        up = GaugeMetricFamily("typecheck_service_up", "Whether the service answered this scrape's reading.",
                               labels=["service"])
        started = time.perf_counter()
        reading = self._read("rabbitmq", self.readings.queue_depths, up)
        if reading is not None:
            queues = GaugeMetricFamily("typecheck_queue_messages", "Messages ready in a queue.", labels=["queue"])
            for queue, count in sorted(reading.items()):
                queues.add_metric([queue], count)
            yield queues
        counts = self._read("redis", self.readings.state_counts, up)
        if counts is not None:
            tasks = GaugeMetricFamily(
                "typecheck_tasks", "Tasks by state: waiting or running now; finished since the counts began.",
                labels=["state"])
            for state, count in counts.items():
                tasks.add_metric([state], count)
            yield tasks
            alive = self._read("redis", self.readings.live_workers, up, already=True)
            if alive is not None:
                yield GaugeMetricFamily("typecheck_workers_alive", "Worker processes with a live heartbeat.",
                                        value=alive)
            cache = self._read("redis", self.readings.cache_hits_misses, up, already=True)
            if cache is not None:
                hits = CounterMetricFamily("typecheck_schema_cache_lookups", "Active-schema cache lookups "
                                           "(reset by a cache clear).", labels=["result"])
                hits.add_metric(["hit"], cache[0])
                hits.add_metric(["miss"], cache[1])
                yield hits
        yield up
        yield GaugeMetricFamily("typecheck_scrape_reading_seconds", "Time spent reading the services.",
                                value=time.perf_counter() - started)

    @staticmethod
    def _read(service: str, read: Callable[[], Any], up: GaugeMetricFamily, *, already: bool = False) -> Any:
        try:
            value = read()
        except Exception as err:  # noqa: BLE001 - a service down is a reading, not a failed scrape
            log.warning("metrics: %s did not answer: %s: %s", service, type(err).__name__, err)
            if not already:
                up.add_metric([service], 0)
            return None
        if not already:
            up.add_metric([service], 1)
        return value


def report_to_airflow_stats(result: dict[str, Any], seconds: float | None) -> None:
    """
    An operator's validation in Airflow's own metrics (``Stats``: StatsD or OpenTelemetry, as
    Airflow is configured): ``typecheck.validation.rows`` and ``.invalid_rows`` (counters),
    ``.duration`` (a timer) and ``.<state>`` (a counter). No import name: Airflow's own task
    metrics already say which task it was.
    """
    from datetime import timedelta

    from airflow.sdk.observability.stats import Stats

    Stats.incr("typecheck.validation.rows", int(result.get("total_rows") or 0))
    Stats.incr("typecheck.validation.invalid_rows", int(result.get("invalid_rows") or 0))
    Stats.incr(f"typecheck.validation.{result.get('state', 'unknown')}")
    if seconds is not None:
        Stats.timing("typecheck.validation.duration", timedelta(seconds=seconds))
