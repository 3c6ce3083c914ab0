"""Which run validates an announced file: claims on real Redis, as two racing DAG runs make them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_typecheck.queues.announcements import (
    AnnouncementClaims,
    announced_file,
    files_to_validate,
    lookback_start,
)

pytestmark = pytest.mark.integration("redis")

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)


def event(second: int, body: object) -> SimpleNamespace:
    return SimpleNamespace(timestamp=T0 + timedelta(seconds=second), extra={"payload": {"body": body}})


def announcement(index: int) -> SimpleNamespace:
    return event(index, {"import_name": "users", "file": f"/data/f{index}.csv"})


@pytest.fixture
def claims(redis_conn, redis_prefix):
    from airflow.providers.redis.hooks.redis import RedisHook

    client = RedisHook(redis_conn_id=redis_conn).get_conn()
    yield AnnouncementClaims(client, prefix=redis_prefix, scope="typecheck_event_driven")
    client.close()


def files(chosen: list[dict[str, str]]) -> list[str]:
    return [item["file"] for item in chosen]


def test_each_announced_file_goes_to_the_first_run_that_claims_it(claims) -> None:
    # Run A was created with event 0; events 1-3 were stored while it was being queued.
    first = files_to_validate([announcement(0), *[announcement(i) for i in range(4)]], claims, "run_a")
    assert files(first) == [f"/data/f{i}.csv" for i in range(4)]  # the triggering event counted once
    # Run B, queued later by event 4, carries events 1-4 (they were stored after A's queue entry).
    second = files_to_validate([announcement(i) for i in range(1, 5)], claims, "run_b")
    assert files(second) == ["/data/f4.csv"]
    # A retry of run A's claim task gets its own claims back, and takes nothing of B's.
    again = files_to_validate([announcement(i) for i in range(5)], claims, "run_a")
    assert files(again) == files(first)


def test_a_file_announced_twice_is_validated_twice_and_other_scopes_are_apart(claims, redis_conn) -> None:
    same_file_later = event(9, {"import_name": "users", "file": "/data/f0.csv"})
    assert files(files_to_validate([announcement(0), same_file_later], claims, "run_a")) == ["/data/f0.csv"] * 2
    other = AnnouncementClaims(claims.redis, prefix=claims.prefix.split("announced:")[0], scope="another_dag")
    assert files(files_to_validate([announcement(0)], other, "run_x")) == ["/data/f0.csv"]


def test_what_an_event_announces() -> None:
    assert announced_file(event(0, {"file": "s3://b/in.csv"}), "users") == {"import_name": "users",
                                                                           "file": "s3://b/in.csv"}
    for body in ({"import_name": "users"}, "s3://b/in.csv", {"file": ""}, {"file": 3}, None):
        assert announced_file(event(0, body), "users") is None
    assert announced_file(event(0, {"file": "x.csv"})) is None  # no import name anywhere
    assert lookback_start([announcement(5), announcement(2)], T0 + timedelta(hours=5)) == T0 + timedelta(seconds=2)
    assert lookback_start([], T0) == T0 - timedelta(hours=1)
