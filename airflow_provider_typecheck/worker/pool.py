"""Start ``concurrency`` worker processes and stop them all on SIGTERM.

With ``metrics_port`` set, each worker process serves its own metrics: the only one on
that port, or child ``i`` (from 0) on ``metrics_port + i`` (a restarted child takes its
predecessor's port).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time

from airflow_provider_typecheck.logs import LogFormat, configure_logging

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 2.0


def run_worker_process(prefetch: int, log_format: LogFormat = "text", metrics_port: int | None = None) -> int:
    """Run one worker in this process until SIGTERM; return its exit code (0)."""
    from airflow_provider_typecheck.logs import install_control_escaping
    from airflow_provider_typecheck.services import get_services
    from airflow_provider_typecheck.worker.consumer import Worker

    configure_logging(log_format)
    install_control_escaping()  # file names and messages come from users
    metrics = None
    if metrics_port is not None:
        from airflow_provider_typecheck.metrics import WorkerMetrics

        metrics = WorkerMetrics()
        metrics.serve(metrics_port)
    worker = Worker(get_services(), prefetch=prefetch, metrics=metrics)
    worker.install_signal_handlers()
    return worker.run()


def _child(prefetch: int, log_format: LogFormat, metrics_port: int | None) -> None:
    code = run_worker_process(prefetch, log_format, metrics_port)
    # Leave without joining job threads: a job that reached no progress point within the
    # grace period is requeued by the broker when the connection closes.
    logging.shutdown()
    os._exit(code)


def run_workers(concurrency: int = 1, prefetch: int = 1, *, log_format: LogFormat = "text",
                metrics_port: int | None = None) -> int:
    """
    Run ``concurrency`` workers: in this process when 1, else as spawned children that are
    restarted when they die and sent SIGTERM (then waited for) when this process gets it.
    """
    if concurrency == 1:
        return run_worker_process(prefetch, log_format, metrics_port)
    configure_logging(log_format)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(index: int) -> multiprocessing.process.BaseProcess:
        port = None if metrics_port is None else metrics_port + index
        process = context.Process(target=_child, args=(prefetch, log_format, port), name=f"typecheck-worker-{index}")
        process.start()
        return process

    children = [start(i) for i in range(concurrency)]
    while not stopping:
        time.sleep(0.2)
        for index, child in enumerate(children):
            if child.exitcode is not None and not stopping:
                log.error("worker %s exited with %s; starting another", child.name, child.exitcode)
                time.sleep(RESTART_DELAY_SECONDS)
                children[index] = start(index)
    for child in children:
        if child.is_alive() and child.pid is not None:
            child.terminate()  # SIGTERM: each finishes or requeues its job
    for child in children:
        child.join()
    return 0
