"""Validation jobs over RabbitMQ: the contract, the topology, the file store and publishing.

Callers publish through the composition root (``services.publish_validation(...)``,
``services.cancel_validation(...)``); workers consume what it publishes
(:mod:`airflow_provider_typecheck.worker`). Nothing connects at import.
"""

from __future__ import annotations

from airflow_provider_typecheck.jobs.contract import JobOptions, ValidationEvent, ValidationJob
from airflow_provider_typecheck.jobs.publish import PublishError

__all__ = ["JobOptions", "PublishError", "ValidationEvent", "ValidationJob"]
