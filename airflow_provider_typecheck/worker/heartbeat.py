"""A worker process's heartbeat in Redis: how /healthcheck counts live workers, and how a
redelivered job knows that the worker holding it is gone (no heartbeat) or alive (respected).

The heartbeat is per process, not per connection: a worker that lost RabbitMQ but still
runs a job keeps beating, so its job is not taken from it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore

log = logging.getLogger(__name__)

# A worker counts as alive for this many heartbeat intervals after its last beat.
ALIVE_INTERVALS = 3


class Heartbeat(threading.Thread):
    """Beats every ``interval`` seconds until :meth:`stop`, which also says the worker left."""

    def __init__(self, tasks: TaskStatusStore, worker: str, interval: float) -> None:
        super().__init__(name="typecheck-heartbeat", daemon=True)
        self.tasks = tasks
        self.worker = worker
        self.interval = interval
        self._done = threading.Event()
        self._failing = False

    def run(self) -> None:
        while True:
            self.beat()
            if self._done.wait(self.interval):
                return

    def beat(self) -> None:
        try:
            self.tasks.heartbeat(self.worker, alive_seconds=self.interval * ALIVE_INTERVALS)
        except Exception as err:  # noqa: BLE001 - Redis down: the job's own writes say so and retry
            if not self._failing:
                log.warning("could not write this worker's heartbeat: %s", err)
            self._failing = True
        else:
            if self._failing:
                log.info("heartbeat written again")
            self._failing = False

    def stop(self) -> None:
        self._done.set()
        try:
            self.tasks.leave(self.worker)
        except Exception as err:  # noqa: BLE001 - its heartbeat runs out by itself
            log.debug("could not remove this worker from the live ones: %s", err)
