"""Announced files (asset events of the AMQP watcher), and which DAG run validates each one.

Airflow 3.3 hands an asset-triggered run only the events stored before its queue entry
was taken; events stored in the instant between that and the run's creation belong to
no run until the *next* announcement queues one. So no run relies on its
``triggering_asset_events`` alone: it also reads the asset's events stored since its
earliest triggering one, and claims every announced file in them that no other run has
claimed. A claim is a Redis key per asset event, set only if absent; a run that claims
again (a retry) gets its own claims back. Each announced file is so validated once, by
the first run to claim it, and none waits for a later announcement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis

# How long a claim is remembered. A run reads back only to its earliest triggering event
# (seconds to minutes before it), so a claim must only outlive the runs that could see it.
CLAIM_TTL = timedelta(days=7)
# How far back a run with no triggering event (started by hand) looks for unclaimed files.
MANUAL_LOOKBACK = timedelta(hours=1)


def announced_file(event: Any, default_import_name: str | None = None) -> dict[str, str] | None:
    """The ``{"import_name", "file"}`` an asset event announces, or None when its body names no file."""
    payload = (getattr(event, "extra", None) or {}).get("payload") or {}
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("file"), str) or not body["file"]:
        return None
    import_name = body.get("import_name") or default_import_name
    if not isinstance(import_name, str) or not import_name:
        return None
    return {"import_name": import_name, "file": body["file"]}


def event_key(event: Any, announced: dict[str, str]) -> str:
    """One asset event's identity, the same whether it came as a triggering or an inlet event."""
    stamp = event.timestamp.isoformat() if isinstance(event.timestamp, datetime) else str(event.timestamp)
    text = "\n".join((stamp, announced["import_name"], announced["file"]))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def lookback_start(triggering: Iterable[Any], now: datetime) -> datetime:
    """Where a run starts reading the asset's events: its earliest triggering event."""
    stamps = [event.timestamp for event in triggering]
    return min(stamps) if stamps else now - MANUAL_LOOKBACK


class AnnouncementClaims:
    """
    Which run validates an announced file: the first one to claim its asset event.

    :param redis: a Redis client (the task status's).
    :param prefix: the package's Redis key prefix (``TYPECHECK_REDIS_PREFIX``).
    :param scope: what the claims are for (the DAG id): two DAGs may each validate a file.
    """

    def __init__(self, redis: Redis, *, prefix: str, scope: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}announced:{scope}:"

    def claim(self, key: str, run_id: str) -> bool:
        """Claim one event for ``run_id``; True if it is (now or already) this run's."""
        name = self.prefix + key
        if self.redis.set(name, run_id, nx=True, ex=int(CLAIM_TTL.total_seconds())):
            return True
        owner = self.redis.get(name)
        return (owner.decode() if isinstance(owner, bytes) else owner) == run_id


def files_to_validate(
    events: Iterable[Any], claims: AnnouncementClaims, run_id: str, *, default_import_name: str | None = None
) -> list[dict[str, str]]:
    """The announced files of ``events`` this run claims, in event order, each once."""
    chosen: dict[str, dict[str, str]] = {}
    for event in sorted(events, key=lambda e: e.timestamp):
        announced = announced_file(event, default_import_name)
        if announced is None:
            continue
        key = event_key(event, announced)
        if key not in chosen and claims.claim(key, run_id):
            chosen[key] = announced
    return list(chosen.values())


def claim_run_files(
    *,
    asset: Any,
    triggering_asset_events: Any,
    inlet_events: Any,
    dag_id: str,
    run_id: str,
    default_import_name: str | None = None,
    redis: Redis | None = None,
) -> list[dict[str, str]]:
    """
    The files a run of an event-driven DAG validates: its triggering events' and every
    unclaimed one stored since its earliest triggering event (see the module's docstring).

    Call it from a task that has ``asset`` among its ``inlets``, with the task's context.
    """
    from datetime import timezone

    from airflow_provider_typecheck.services import get_services

    triggering = list((triggering_asset_events or {}).get(asset, []))
    since = lookback_start(triggering, datetime.now(timezone.utc))
    stored = list(inlet_events[asset].after(since)) if inlet_events is not None else []
    services = get_services()
    claims = AnnouncementClaims(redis or services.redis, prefix=services.settings.redis_prefix, scope=dag_id)
    return files_to_validate([*triggering, *stored], claims, run_id, default_import_name=default_import_name)
