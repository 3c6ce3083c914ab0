"""Start ``concurrency`` worker processes and stop them all on SIGTERM."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s"
RESTART_DELAY_SECONDS = 2.0


def run_worker_process(prefetch: int) -> int:
    """Run one worker in this process until SIGTERM; return its exit code (0)."""
    from airflow_provider_typecheck.services import get_services
    from airflow_provider_typecheck.worker.consumer import Worker

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    worker = Worker(get_services(), prefetch=prefetch)
    worker.install_signal_handlers()
    return worker.run()


def _child(prefetch: int) -> None:
    code = run_worker_process(prefetch)
    # Leave without joining job threads: a job that reached no progress point within the
    # grace period is requeued by the broker when the connection closes.
    logging.shutdown()
    os._exit(code)


def run_workers(concurrency: int = 1, prefetch: int = 1) -> int:
    """
    Run ``concurrency`` workers: in this process when 1, else as spawned children that are
    restarted when they die and sent SIGTERM (then waited for) when this process gets it.
    """
    if concurrency == 1:
        return run_worker_process(prefetch)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_child, args=(prefetch,), name=f"typecheck-worker-{index}")
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
