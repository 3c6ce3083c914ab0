"""The active-schema cache: real Redis in front of a real PostgreSQL schema store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_typecheck.registry.cache import CachedSchemaStore, SchemaCache
from airflow_provider_typecheck.registry.errors import InvalidSchema, SchemaNotFound
from airflow_provider_typecheck.registry.schemas import PostgresSchemaStore, build_schema_store
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.settings import TypecheckSettings

pytestmark = [pytest.mark.integration("redis"), pytest.mark.integration("postgres")]

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(prop: str) -> dict[str, Any]:
    return {"$schema": DRAFT, "type": "object", "properties": {prop: {"type": "string"}}}


@pytest.fixture
def cache(redis_prefix: str) -> Iterator[SchemaCache]:
    schema_cache = SchemaCache(ttl_seconds=600, prefix=redis_prefix)
    yield schema_cache
    schema_cache.close()


@pytest.fixture
def backing(postgres_conn: str, pg_session_schema: str) -> PostgresSchemaStore:
    return PostgresSchemaStore(schema=pg_session_schema)


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


def test_an_unchanged_put_keeps_the_cached_entry(cached: CachedSchemaStore, cache: SchemaCache, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    assert (cache.stats().hits, cache.stats().misses) == (1, 1)


def test_a_refused_schema_does_not_touch_the_cache(cached: CachedSchemaStore, cache: SchemaCache, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    with pytest.raises(InvalidSchema):
        cached.put(name, {"type": "no-such-type"}, new_version=True, actor=None)

    assert cached.active(name).schema == _schema("a")
    assert cache.stats().hits == 1


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
    cached: CachedSchemaStore, cache: SchemaCache, redis_prefix: str, unique: str
) -> None:
    tasks = TaskStatusStore(prefix=redis_prefix)
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
    tasks.close()


def test_cached_entries_expire(cached: CachedSchemaStore, cache: SchemaCache, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor=None)
    cached.active(name)

    ttl = cache._client().ttl(cache._entry_key(name))

    assert 0 < ttl <= 600


def test_status_and_list_pass_through(cached: CachedSchemaStore, name: str) -> None:
    cached.put(name, _schema("a"), new_version=True, actor="alice")

    assert cached.status(name).versions[0].created_by == "alice"
    assert [i.import_name for i in cached.list(name).items] == [name]


def test_build_schema_store_follows_the_settings(redis_conn: str, postgres_conn: str, pg_session_schema: str) -> None:
    settings = TypecheckSettings(schema_store="postgres", postgres_schema=pg_session_schema)

    store = build_schema_store(settings)
    plain = build_schema_store(settings, cached=False)

    assert isinstance(store, CachedSchemaStore) and isinstance(store.store, PostgresSchemaStore)
    assert isinstance(plain, PostgresSchemaStore) and plain.schema == pg_session_schema
    assert store.cache.prefix == "typecheck:"
