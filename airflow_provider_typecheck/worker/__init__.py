"""``typecheck worker``: consumes validation jobs from RabbitMQ and runs the core on them.

:mod:`.job` decides and does the work of one delivery (status, lease, validation,
report); :mod:`.consumer` holds the connection and settles each delivery on the broker;
:func:`run_workers` starts one or several worker processes (``spawn``, never ``fork``:
Polars' thread pool does not survive a fork).
"""

from __future__ import annotations

from airflow_provider_typecheck.worker.pool import run_workers

__all__ = ["run_workers"]
