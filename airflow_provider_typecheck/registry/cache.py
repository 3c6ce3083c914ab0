"""The active-schema cache in Redis, and a schema store wrapper that uses it.

Key layout (``prefix`` is ``typecheck:`` unless told otherwise)::

    {prefix}cache:schema:<import_name>   hash: field "active" or "v<N>" -> SchemaVersion JSON
    {prefix}cache:gen:<import_name>      string: generation, bumped on every invalidation
    {prefix}cache:writing:<import_name>  string: writes in progress (expires by itself)
    {prefix}cache:stats                  hash: hits, misses

A miss remembers the generation it saw; filling the cache afterwards succeeds only if
the generation is unchanged and no write is in progress (a Lua script), so a reader
that fetched the old version can never put it back after a writer's invalidation.

A write invalidates twice: before it writes (the cached entry goes, and the writing
marker stops any fill while the store changes) and after. If Redis fails before the
write, the write is refused (:class:`~.errors.CacheUnavailable`): nothing was written
and nothing cached is stale. If it fails after, the entry is already gone and the
marker keeps fills out until it expires, so the old version is never served again.
Hence a new version takes effect as soon as ``put``/``remove`` returns.

Reads never depend on Redis: when it does not answer (within the client's socket timeout),
:class:`CachedSchemaStore` reads the store itself.

Clearing deletes the cached schemas and the counters, nothing else under the prefix:
task status (``{prefix}task:...``) is never touched.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import CacheUnavailable
from airflow_provider_typecheck.registry.models import CacheStats, SchemaVersion
from airflow_provider_typecheck.registry.schemas import DEFAULT_PING_TIMEOUT_SECONDS, SchemaStore, validate_import_name

if TYPE_CHECKING:
    from redis import Redis

    from airflow_provider_typecheck.registry.models import (
        PutResult,
        RemoveResult,
        SchemaPage,
        SchemaStatus,
        SchemaWriter,
    )

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "typecheck:"
# How long a write's marker keeps fills out if the write never clears it (its process
# died, or Redis failed after the store write): longer than any store write takes.
WRITING_MARKER_SECONDS = 60

# Read one field and count the hit or miss in the same round trip; also return the
# generation so that the caller can fill the cache conditionally after a miss.
_GET = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
else
  redis.call('HINCRBY', KEYS[2], 'misses', 1)
end
return {value, redis.call('GET', KEYS[3])}
"""

# Fill only if nobody invalidated since the miss and no write is under way (see the
# module docstring).
_FILL = """
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] or tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

_SCAN_BATCH = 500


class SchemaCache:
    """
    Cached schema versions per import name, with hit/miss counters.

    :param redis: the composition root's Redis client (with its socket timeouts: a read
        that gets no answer in time falls back to the store). The cache does not close it.
    :param ttl_seconds: how long a cached schema lives without being refreshed.
    :param prefix: the key prefix shared with the task status store.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: int = 3600, prefix: str = DEFAULT_PREFIX) -> None:
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self._redis = redis
        # Registering sends nothing: a script is loaded on its first call.
        self._scripts = {"get": redis.register_script(_GET), "fill": redis.register_script(_FILL)}

    def _entry_key(self, import_name: str) -> str:
        return f"{self.prefix}cache:schema:{import_name}"

    def _gen_key(self, import_name: str) -> str:
        return f"{self.prefix}cache:gen:{import_name}"

    def _writing_key(self, import_name: str) -> str:
        return f"{self.prefix}cache:writing:{import_name}"

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        """Check that Redis answers (within the client's socket timeout); raise ``redis.RedisError`` if not."""
        self._redis.ping()

    @property
    def _stats_key(self) -> str:
        return f"{self.prefix}cache:stats"

    def get(self, import_name: str, field: str) -> tuple[str | None, str]:
        """Return the cached JSON (None on a miss) and the generation to pass to :meth:`fill`."""
        value, generation = self._scripts["get"](
            keys=[self._entry_key(import_name), self._stats_key, self._gen_key(import_name)], args=[field]
        )
        return (_text(value) if value is not None else None, _text(generation) if generation is not None else "")

    def fill(self, import_name: str, field: str, value: str, generation: str) -> bool:
        """Cache ``value`` unless the entry was invalidated since ``generation`` was read."""
        done = self._scripts["fill"](
            keys=[self._entry_key(import_name), self._gen_key(import_name), self._writing_key(import_name)],
            args=[generation, field, value, self.ttl_seconds],
        )
        return bool(done)

    def invalidate(self, import_name: str) -> None:
        """Forget every cached version of ``import_name``, at once for every process."""
        self._invalidate(import_name, writing=0)

    def begin_write(self, import_name: str) -> None:
        """Before a store write: forget the entry and keep fills out until :meth:`end_write`."""
        self._invalidate(import_name, writing=1)

    def end_write(self, import_name: str) -> None:
        """After a store write (done or failed): forget the entry again and let fills back in."""
        self._invalidate(import_name, writing=-1)

    def _invalidate(self, import_name: str, *, writing: int) -> None:
        pipe = self._redis.pipeline(transaction=True)
        gen_key = self._gen_key(import_name)
        pipe.incr(gen_key)
        # The generation only has to outlive a reader's miss-to-fill window.
        pipe.expire(gen_key, max(self.ttl_seconds, 60))
        pipe.delete(self._entry_key(import_name))
        if writing:
            # A count, not a flag: one writer ending must not let fills in while another writes.
            writing_key = self._writing_key(import_name)
            pipe.incrby(writing_key, writing)
            pipe.expire(writing_key, WRITING_MARKER_SECONDS)
        pipe.execute()

    def _schema_keys(self) -> list[str]:
        return [_text(k) for k in self._redis.scan_iter(match=f"{self.prefix}cache:schema:*", count=_SCAN_BATCH)]

    def sample_keys(self, limit: int) -> list[str]:
        """Up to ``limit`` cached keys, for people looking at what the cache holds."""
        sample: list[str] = []
        for key in self._redis.scan_iter(match=f"{self.prefix}cache:schema:*", count=_SCAN_BATCH):
            sample.append(_text(key))
            if len(sample) >= limit:
                break
        return sample

    def stats(self) -> CacheStats:
        """Count the cached entries, their memory, and the hits and misses since the last clear."""
        client = self._redis
        keys = self._schema_keys()
        memory = 0
        for start in range(0, len(keys), _SCAN_BATCH):
            pipe = client.pipeline(transaction=False)
            for key in keys[start : start + _SCAN_BATCH]:
                pipe.memory_usage(key)
            memory += sum(m or 0 for m in pipe.execute())  # None: expired since the scan
        counters = {_text(k): int(v) for k, v in client.hgetall(self._stats_key).items()}
        hits, misses = counters.get("hits", 0), counters.get("misses", 0)
        lookups = hits + misses
        return CacheStats(
            keys=len(keys),
            hits=hits,
            misses=misses,
            hit_rate=hits / lookups if lookups else None,
            memory_bytes=memory,
        )

    def clear(self) -> int:
        """Drop every cached schema and reset the counters; return how many entries went."""
        client = self._redis
        keys = self._schema_keys()
        for start in range(0, len(keys), _SCAN_BATCH):
            client.unlink(*keys[start : start + _SCAN_BATCH])
        # Generations stay (they expire by themselves): deleting them could let a reader
        # that missed before a concurrent put fill the cache with the old version.
        client.delete(self._stats_key)
        return len(keys)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CachedSchemaStore(SchemaStore):
    """
    Any :class:`SchemaStore` with reads of ``active()`` served from a :class:`SchemaCache`.

    Writes invalidate the import name's cache entry before and after they go to the
    wrapped store (see the module docstring), so readers in every process see the new
    active version once the write returns. Reads fall back to the wrapped store when
    Redis does not answer. ``status`` and ``list`` are not cached: they are for
    people, not for the hot path.
    """

    def __init__(self, store: SchemaStore, cache: SchemaCache) -> None:
        self.store = store
        self.cache = cache

    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        from redis.exceptions import RedisError

        validate_import_name(import_name)
        field = "active" if version is None else f"v{version}"
        try:
            cached, generation = self.cache.get(import_name, field)
        except RedisError as exc:
            log.warning("Schema cache unavailable, reading the store: %s", exc)
            return self.store.active(import_name, version)
        if cached is not None:
            return SchemaVersion.model_validate_json(cached)
        found = self.store.active(import_name, version)
        try:
            self.cache.fill(import_name, field, found.model_dump_json(by_alias=True), generation)
        except RedisError as exc:
            log.warning("Schema cache unavailable, %s not cached: %s", import_name, exc)
        return found

    def put(
        self,
        import_name: str,
        schema: dict[str, Any],
        *,
        new_version: bool,
        actor: str | None,
        expected_version: int | None = None,
        writer: SchemaWriter | None = None,
    ) -> PutResult:
        validate_import_name(import_name)
        self._begin_write(import_name)
        try:
            result = self.store.put(
                import_name, schema, new_version=new_version, actor=actor, expected_version=expected_version,
                writer=writer,
            )
        finally:
            # Even after a failure: the write may have landed before a lost reply.
            self._end_write(import_name)
        return result

    def remove(
        self, import_name: str, *, expected_version: int | None = None, writer: SchemaWriter | None = None
    ) -> RemoveResult:
        validate_import_name(import_name)
        self._begin_write(import_name)
        try:
            return self.store.remove(import_name, expected_version=expected_version, writer=writer)
        finally:
            self._end_write(import_name)

    def _begin_write(self, import_name: str) -> None:
        from redis.exceptions import RedisError

        try:
            self.cache.begin_write(import_name)
        except RedisError as exc:
            raise CacheUnavailable(
                f"the schema cache cannot be invalidated ({exc}); nothing was written, try again"
            ) from None

    def _end_write(self, import_name: str) -> None:
        from redis.exceptions import RedisError

        try:
            self.cache.end_write(import_name)
        except RedisError as exc:
            # The entry went at begin_write and its marker keeps fills out until it expires.
            log.warning("Schema cache not invalidated after writing %s: %s", import_name, exc)

    def status(self, import_name: str) -> SchemaStatus:
        return self.store.status(import_name)

    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        return self.store.list(prefix, skip, limit)

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        """Ping the wrapped store only: schemas are served without Redis (see ``SchemaCache.ping``)."""
        self.store.ping(timeout)

    def close(self) -> None:
        self.store.close()
