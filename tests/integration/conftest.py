"""Fixtures for the integration tests: real PostgreSQL, Redis and RabbitMQ, per-test connections.

Connections come from ``AIRFLOW_CONN_*`` variables set per test (Airflow 3 reads them
without a metadata database). Servers default to the local ones and can be pointed
elsewhere with ``TYPECHECK_TEST_POSTGRES_URI`` and ``TYPECHECK_TEST_REDIS_URI``.

Nothing here wipes a database: PostgreSQL tests work in a schema created for this
session (dropped at its end) or for one test; Redis tests use a key prefix of their own
and delete only keys under it; RabbitMQ tests work in a virtual host created for this
session and deleted at its end, so two test runs on one broker never take each other's
messages.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from redis import Redis

POSTGRES_URI = os.environ.get("TYPECHECK_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URI = os.environ.get("TYPECHECK_TEST_REDIS_URI", "redis://127.0.0.1:6379")
RABBITMQ_HOST = os.environ.get("TYPECHECK_TEST_RABBITMQ_HOST", "127.0.0.1:5672")


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep Airflow's config and logs out of the developer's ~/airflow."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        yield


def _drop_schema(name: str) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_TYPECHECK_TEST_TEARDOWN", POSTGRES_URI)
        hook = PostgresHook(postgres_conn_id="typecheck_test_teardown")
        with closing(hook.get_conn()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.commit()


@pytest.fixture(scope="session")
def pg_session_schema() -> Iterator[str]:
    """A PostgreSQL schema for this test session, dropped at its end."""
    name = f"typecheck_test_{uuid.uuid4().hex[:12]}"
    yield name
    _drop_schema(name)


@pytest.fixture
def pg_test_schema() -> Iterator[str]:
    """A PostgreSQL schema for one test (where a test needs an empty table), dropped after it."""
    name = f"typecheck_t_{uuid.uuid4().hex[:12]}"
    yield name
    _drop_schema(name)


@pytest.fixture
def postgres_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the ``postgres_default`` Airflow connection at the test server."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", POSTGRES_URI)
    return "postgres_default"


@pytest.fixture
def redis_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the ``redis_default`` Airflow connection at the test server."""
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", REDIS_URI)
    return "redis_default"


@pytest.fixture
def redis_prefix(redis_conn: str) -> Iterator[str]:
    """A key prefix for one test; every key under it is deleted afterwards."""
    from airflow.providers.redis.hooks.redis import RedisHook

    prefix = f"typecheck-test:{uuid.uuid4().hex}:"
    yield prefix
    client: Redis = RedisHook(redis_conn_id=redis_conn).get_conn()
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ virtual host for this test session (guest may use it), deleted at its end."""
    name = f"typecheck_test_{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    _rabbitmqctl("delete_vhost", name)


@pytest.fixture
def rabbitmq_uri(rabbitmq_vhost: str) -> str:
    """An AMQP URI of the test session's virtual host."""
    return f"amqp://guest:guest@{RABBITMQ_HOST}/{rabbitmq_vhost}"


@pytest.fixture
def rabbitmq_conn(monkeypatch: pytest.MonkeyPatch, rabbitmq_uri: str) -> str:
    """Point the ``rabbitmq_default`` Airflow connection at the test session's virtual host."""
    monkeypatch.setenv("AIRFLOW_CONN_RABBITMQ_DEFAULT", rabbitmq_uri)
    return "rabbitmq_default"


@pytest.fixture
def unique() -> str:
    """A short random token for names (import names, usernames) owned by one test."""
    return uuid.uuid4().hex[:10]

# The REST API's server and worker, one of each per session, shared by the test_api_* modules.
# (Imported by each module instead, they would be one per module, all consuming one virtual host.)
from tests.integration.api_support import api, api_env, worker  # noqa: E402, F401
