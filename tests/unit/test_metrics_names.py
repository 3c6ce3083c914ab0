"""The metrics exported are the ones docs/operations.md lists and the Grafana dashboard queries."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from airflow_provider_typecheck.metrics import ApiMetrics, ServiceReadings, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]


def _exported() -> set[str]:
    worker = WorkerMetrics()
    worker.job_finished("valid", seconds=1.0, rows=10, size=100, peak_rss=1 << 20)
    worker.jobs_requeued.inc()
    api = ApiMetrics(ServiceReadings(queue_depths=lambda: {"typecheck.validation": 2},
                                     state_counts=lambda: {"queued": 1}, live_workers=lambda: 1,
                                     cache_hits_misses=lambda: (3, 1)))
    api.observe("/metrics", "GET", 200, 0.01)
    text = (generate_latest(worker.registry) + generate_latest(api.registry)).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported = _exported()
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"typecheck_[a-z_]+", target["expr"])}
    assert queried and queried <= exported, queried - exported


def test_every_metric_exported_is_documented() -> None:
    documented = (ROOT / "docs" / "operations.md").read_text()
    families = {re.sub(r"_(bucket|sum|count|created|total)$", "", name) for name in _exported()}
    assert {f for f in families if f not in documented} == set()


def test_a_service_that_does_not_answer_is_a_reading_not_a_failed_scrape() -> None:
    def down() -> dict[str, int]:
        raise ConnectionError("refused")

    api = ApiMetrics(ServiceReadings(queue_depths=down, state_counts=lambda: {"queued": 1}, live_workers=lambda: 0,
                                     cache_hits_misses=lambda: (0, 0)))
    text = generate_latest(api.registry).decode()
    assert 'typecheck_service_up{service="rabbitmq"} 0.0' in text
    assert 'typecheck_service_up{service="redis"} 1.0' in text
    assert "typecheck_queue_messages" not in text and 'typecheck_tasks{state="queued"} 1.0' in text
