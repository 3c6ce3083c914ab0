"""The active-schema cache: real Redis in front of a real PostgreSQL schema store."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.exceptions import RedisError

from airflow_provider_typecheck.registry.cache import CachedSchemaStore, SchemaCache
from airflow_provider_typecheck.registry.errors import CacheUnavailable, InvalidSchema, SchemaNotFound
from airflow_provider_typecheck.registry.postgres_schemas import PostgresSchemaStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings
from tests.integration.conftest import POSTGRES_URI, REDIS_URI

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("postgres")]

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(prop: str) -> dict[str, Any]:
    return {"$schema": DRAFT, "type": "object", "properties": {prop: {"type": "string"}}}


@pytest.fixture
def services(redis_prefix: str, postgres_conn: str, pg_session_schema: str) -> Iterator[Services]:
    services = Services(TypecheckSettings(
        schema_store="postgres", postgres_schema=pg_session_schema, redis_prefix=redis_prefix, cache_ttl_seconds=600,
    ))
    yield services
    services.close()


@pytest.fixture
def cache(services: Services) -> SchemaCache:
    return services.cache


@pytest.fixture
def backing(services: Services) -> PostgresSchemaStore:
    return services.schema_backend  # type: ignore[return-value]


@pytest.fixture
def cached(backing: PostgresSchemaStore, cache: SchemaCache) -> CachedSchemaStore:
    return CachedSchemaStore(backing, cache)


@pytest.fixture
def name(unique: str) -> str:
    return f"cache.{unique}"


def test_a_second_read_is_a_hit(cached: CachedSchemaStore, cache: SchemaCache, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor="alice")

    first, second = cached.active(name), cached.active(name)

    assert first == second
    assert second.schema == _schema("a")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.keys, stats.hit_rate) == (1, 1, 1, 0.5)
    assert stats.memory_bytes > 0


def test_a_new_version_takes_effect_at_once(
    cached: CachedSchemaStore, backing: PostgresSchemaStore, cache: SchemaCache, name: str
) -> None:
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)
    cached.active(name, version=1)

    cached.put(name, _schema("b"), new_version=True, actor=None)
    assert cached.active(name).schema == _schema("b")

    cached.put(name, _schema("c"), new_version=False, actor=None)
    assert cached.active(name).schema == _schema("c")
    assert cached.active(name, version=2).schema == _schema("c")

    cached.remove(name)
    assert cached.active(name).schema == _schema("a")
    cached.remove(name)
    with pytest.raises(SchemaNotFound):
        cached.active(name)


def test_an_unchanged_or_refused_put_leaves_reads_right(
    cached: CachedSchemaStore, cache: SchemaCache, name: str
) -> None:
    """Every write attempt invalidates (it cannot know beforehand that it will write nothing)."""
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    cached.put(name, _schema("a"), new_version=True, actor=None)
    assert cached.active(name).schema == _schema("a")
    with pytest.raises(InvalidSchema):
        cached.put(name, {"type": "no-such-type"}, new_version=True, actor=None)
    assert cached.active(name).schema == _schema("a")
    assert cached.active(name).schema == _schema("a")

    assert cache.stats().hits == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_cache(redis_prefix: str) -> Iterator[SchemaCache]:
    """A cache whose Redis does not answer: a port nobody listens on."""
    services = Services(TypecheckSettings(redis_uri=f"redis://127.0.0.1:{_closed_port()}", redis_prefix=redis_prefix))
    yield services.cache
    services.close()


def test_reads_fall_back_to_the_store_when_redis_is_down(
    backing: PostgresSchemaStore, dead_cache: SchemaCache, name: str
) -> None:
    backing.put(name, _schema("a"), new_version=True, actor=None)
    cached = CachedSchemaStore(backing, dead_cache)

    assert cached.active(name).schema == _schema("a")
    assert cached.active(name, version=1).schema == _schema("a")
    with pytest.raises(RedisError):
        dead_cache.ping()
    cached.ping()  # the schemas themselves are served


def test_a_write_that_cannot_invalidate_is_refused_before_it_writes(
    backing: PostgresSchemaStore, dead_cache: SchemaCache, name: str
) -> None:
    backing.put(name, _schema("a"), new_version=True, actor=None)
    cached = CachedSchemaStore(backing, dead_cache)

    with pytest.raises(CacheUnavailable, match="nothing was written"):
        cached.put(name, _schema("b"), new_version=True, actor=None)
    with pytest.raises(CacheUnavailable):
        cached.remove(name)

    assert backing.active(name).schema == _schema("a")


class _FailingAfterWrite(PostgresSchemaStore):
    """A store whose write lands, after which something fails: ``after_write`` says what."""

    after_write: Any = None

    def put(self, *args: Any, **kwargs: Any) -> Any:
        result = super().put(*args, **kwargs)
        self.after_write()
        return result


@pytest.fixture
def failing_backing(services: Services) -> _FailingAfterWrite:
    return _FailingAfterWrite(services.postgres)


def test_a_failed_put_invalidates_the_cache(
    failing_backing: _FailingAfterWrite, cache: SchemaCache, name: str
) -> None:
    cached = CachedSchemaStore(failing_backing, cache)
    failing_backing.after_write = lambda: None
    cached.put(name, _schema("a"), new_version=True, actor=None)
    assert cached.active(name).schema == _schema("a")  # now cached

    def lost_reply() -> None:
        raise ConnectionError("the reply was lost after the commit")

    failing_backing.after_write = lost_reply
    with pytest.raises(ConnectionError):
        cached.put(name, _schema("b"), new_version=True, actor=None)

    assert cached.active(name).schema == _schema("b")


def test_redis_failing_after_the_store_write_never_serves_the_old_version(
    failing_backing: _FailingAfterWrite, cache: SchemaCache, dead_cache: SchemaCache, name: str
) -> None:
    cached = CachedSchemaStore(failing_backing, cache)
    failing_backing.after_write = lambda: None
    cached.put(name, _schema("a"), new_version=True, actor=None)
    assert cached.active(name).schema == _schema("a")
    stale: dict[str, Any] = {}

    def reader_then_redis_dies() -> None:
        # A reader that missed just before the write and read the old version from the
        # store comes to fill the cache; then Redis stops answering this writer.
        stale["old"] = failing_backing.active(name, version=1).model_dump_json(by_alias=True)
        stale["generation"] = cache.get(name, "active")[1]
        cached.cache = dead_cache

    failing_backing.after_write = reader_then_redis_dies
    result = cached.put(name, _schema("b"), new_version=False, actor=None)  # the write landed: no error
    cached.cache = cache

    assert result.version == 1
    assert cache.fill(name, "active", stale["old"], stale["generation"]) is False
    assert CachedSchemaStore(failing_backing, cache).active(name).schema == _schema("b")
    assert cache.get(name, "active")[0] is None  # and not cached while the write's marker lives


def test_a_fill_during_a_write_is_dropped(cache: SchemaCache, name: str) -> None:
    cache.begin_write(name)
    _, generation = cache.get(name, "active")
    assert cache.fill(name, "active", '{"old": true}', generation) is False
    cache.end_write(name)
    _, generation = cache.get(name, "active")
    assert cache.fill(name, "active", '{"new": true}', generation) is True


def test_a_fill_after_an_invalidation_is_dropped(cache: SchemaCache, name: str) -> None:
    """A reader that missed, then fetched the old version while a writer invalidated, must not cache it."""
    value, generation = cache.get(name, "active")
    assert value is None

    cache.invalidate(name)  # the writer's put lands between the reader's miss and its fill

    assert cache.fill(name, "active", '{"stale": true}', generation) is False
    assert cache.get(name, "active")[0] is None
    _, fresh = cache.get(name, "active")
    assert cache.fill(name, "active", '{"fresh": true}', fresh) is True
    assert cache.get(name, "active")[0] == '{"fresh": true}'


def test_clear_drops_schemas_and_counters_but_never_task_status(
    cached: CachedSchemaStore, cache: SchemaCache, services: Services, unique: str
) -> None:
    tasks = services.tasks
    task = tasks.create(import_name="orders", file_name="a.csv")
    for i in range(3):
        cached.put(f"clear{i}.{unique}", _schema("a"), new_version=True, actor=None)
        cached.active(f"clear{i}.{unique}")
    assert cache.stats().keys == 3

    assert cache.clear() == 3

    stats = cache.stats()
    assert (stats.keys, stats.hits, stats.misses, stats.hit_rate, stats.memory_bytes) == (0, 0, 0, None, 0)
    assert tasks.get(task.task_id) == task
    assert cached.active(f"clear0.{unique}").schema == _schema("a")


def test_cached_entries_expire(cached: CachedSchemaStore, cache: SchemaCache, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    ttl = cache._redis.ttl(cache._entry_key(name))

    assert 0 < ttl <= 600


def test_status_and_list_pass_through(cached: CachedSchemaStore, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor="alice")

    assert cached.status(name).versions[0].created_by == "alice"
    assert [i.import_name for i in cached.list(name).items] == [name]


def test_the_schema_store_follows_the_settings(redis_conn: str, postgres_conn: str, pg_session_schema: str) -> None:
    settings = TypecheckSettings(schema_store="postgres", postgres_schema=pg_session_schema, max_schema_bytes=1234)
    services = Services(settings)

    store = services.schemas
    plain = services.schema_backend

    assert isinstance(store, CachedSchemaStore) and isinstance(store.store, PostgresSchemaStore)
    assert isinstance(plain, PostgresSchemaStore) and plain.schema == pg_session_schema
    assert store.cache.prefix == settings.redis_prefix
    assert plain.max_schema_bytes == 1234


def test_stores_built_from_uris_need_no_airflow_connection(
    pg_test_schema: str, redis_prefix: str, name: str
) -> None:
    """The API and workers may run with no Airflow connection, and no metadata database, at all."""
    # Connection ids that name no connection: only the URIs can make this work.
    settings = TypecheckSettings(
        schema_store="postgres",
        postgres_schema=pg_test_schema,
        postgres_conn_id="no_such_connection",
        redis_conn_id="no_such_connection",
        postgres_uri=SecretStr(POSTGRES_URI),
        redis_uri=SecretStr(REDIS_URI),
    )
    services = Services(settings.model_copy(update={"redis_prefix": redis_prefix}))  # this test's own keys
    store = services.schemas
    assert isinstance(store, CachedSchemaStore)
    users = services.users

    store.put(name, _schema("a"), new_version=True, actor=None)
    assert store.active(name).schema == _schema("a")
    assert store.active(name).schema == _schema("a")
    assert store.cache.stats().hits == 1
    assert users.list().count == 0
    for service in (store, store.cache, users):
        service.ping()
    services.close()
