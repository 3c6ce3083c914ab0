"""The schema registry: versioned JSON Schemas per import name, in MongoDB or PostgreSQL.

One interface, :class:`SchemaStore`, two backends reached through Airflow's hooks:

* :class:`MongoSchemaStore` (``MongoHook``), one document per import name;
* :class:`PostgresSchemaStore` (``PostgresHook``), a row per import name and a row
  per version (JSONB).

The active version of an import name is always its newest; :meth:`SchemaStore.remove`
rolls back to the one before. Version numbers are never reused within an entry, so
"version 3" in an old task status always means the schema it was checked against
(unless version 3 was later replaced in place, which the caller asked for).

Both backends are safe with concurrent writers and need no multi-document
transactions: MongoDB by compare-and-swap on a revision counter in the single
document, PostgreSQL by locking the import name's row for the length of the write.

Schemas are stored as JSON text beside any structured copy, so keys MongoDB refuses
(``$ref``, ``$id``, ``a.b``) and key order round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import (
    ConcurrentUpdate,
    InvalidImportName,
    InvalidInput,
    InvalidSchema,
    SchemaNotFound,
)
from airflow_provider_typecheck.registry.migrations import MigratedPostgres, quote_schema
from airflow_provider_typecheck.registry.models import (
    PutOutcome,
    PutResult,
    RemoveResult,
    SchemaPage,
    SchemaStatus,
    SchemaSummary,
    SchemaVersion,
    VersionInfo,
    is_valid_import_name,
)

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from airflow_provider_typecheck.settings import TypecheckSettings

MAX_PAGE_SIZE = 1000


class PreparedSchema:
    """A schema that passed meta-validation, with its stored forms."""

    __slots__ = ("draft", "fingerprint", "source")

    def __init__(self, source: str, fingerprint: str, draft: str) -> None:
        self.source = source
        self.fingerprint = fingerprint
        self.draft = draft


def validate_import_name(import_name: object) -> str:
    """Return ``import_name`` if legal, else raise :class:`InvalidImportName`."""
    if not is_valid_import_name(import_name):
        raise InvalidImportName(f"invalid import name {import_name!r}: expected ^[A-Za-z0-9_.-]{{1,128}}$")
    return import_name  # type: ignore[return-value]


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character hides in any key or string: PostgreSQL text and jsonb refuse it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def prepare_schema(schema: object) -> PreparedSchema:
    """
    Meta-validate ``schema`` with the core and compute what the stores keep.

    The fingerprint hashes the schema with sorted keys, so re-uploading the same
    schema with its keys in another order is "unchanged".
    """
    if not isinstance(schema, dict):
        raise InvalidSchema("a stored schema must be a JSON object", "")
    try:
        source = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        canonical = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidSchema(f"schema is not plain JSON: {exc}", "") from exc
    # Imported here: the core pulls in jsonschema (and polars), which the registry's
    # importers (DAG files, the API) should not pay for until they store a schema.
    from airflow_provider_typecheck.validation.errors import SchemaError
    from airflow_provider_typecheck.validation.schema import check_schema

    try:
        draft = check_schema(schema)
    except SchemaError as exc:
        raise InvalidSchema(exc.message, exc.pointer) from exc
    return PreparedSchema(source, hashlib.sha256(canonical.encode()).hexdigest(), draft)


def _check_page(skip: int, limit: int) -> None:
    if skip < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"need skip >= 0 and 0 < limit <= {MAX_PAGE_SIZE}")


def _check_prefix(prefix: str) -> None:
    if prefix and not is_valid_import_name(prefix):
        raise InvalidImportName(f"invalid prefix {prefix!r}")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _backoff(attempt: int) -> None:
    # Jittered so that writers who collided do not collide again in lockstep.
    time.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))


class SchemaStore(ABC):
    """
    Versioned schemas per import name.

    Every method validates ``import_name`` first (:class:`InvalidImportName`);
    methods that read one entry raise :class:`SchemaNotFound` when it is absent.
    """

    @abstractmethod
    def put(self, import_name: str, schema: dict[str, Any], *, new_version: bool, actor: str | None) -> PutResult:
        """
        Store ``schema`` as the active version of ``import_name``.

        Creates the entry (version 1) if absent. If the schema equals the active one,
        nothing is written (``unchanged``). Otherwise ``new_version=True`` adds a version
        and makes it active; ``new_version=False`` replaces the active version in place.

        :raises InvalidSchema: the core's meta-validation refused the schema.
        """

    @abstractmethod
    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        """Return the active version, or the given ``version`` if one is named."""

    @abstractmethod
    def status(self, import_name: str) -> SchemaStatus:
        """Return the active version number and every version's metadata, oldest first."""

    @abstractmethod
    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        """Return one page of entries whose import name starts with ``prefix``, by name."""

    @abstractmethod
    def remove(self, import_name: str) -> RemoveResult:
        """Roll back: drop the active version, make the previous one active; drop the entry with its last."""

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release any client held by the store."""


# --- MongoDB -----------------------------------------------------------------------------


class MongoSchemaStore(SchemaStore):
    """
    Schemas in MongoDB, one document per import name, through ``MongoHook``.

    Document shape::

        {_id: import_name, rev, next_version, active_version, created_at, updated_at,
         versions: [{version, source, fingerprint, draft, created_at, created_by,
                     updated_at, updated_by}, ...]}   # oldest first; the last is active

    The schema is kept as JSON text (``source``) because MongoDB refuses field names
    starting with ``$`` (``$ref``, ``$schema``) or containing ``.`` in many versions.

    Every write is a single-document update conditional on the ``rev`` it read
    (compare-and-swap); a writer that loses the race re-reads and retries, so two
    concurrent uploads get distinct versions and neither is lost.

    :param mongo_conn_id: Airflow connection (type ``mongo``, URI scheme ``mongo://``).
    :param database: database name.
    :param collection: collection name.
    :param max_attempts: compare-and-swap attempts before :class:`ConcurrentUpdate`.
    """

    def __init__(
        self,
        *,
        mongo_conn_id: str = "mongo_default",
        database: str = "typecheck",
        collection: str = "schemas",
        max_attempts: int = 200,
    ) -> None:
        self.mongo_conn_id = mongo_conn_id
        self.database = database
        self.collection = collection
        self.max_attempts = max_attempts
        self._hook: Any = None
        self._collection: Collection | None = None
        self._lock = threading.Lock()

    def _coll(self) -> Collection:
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    from airflow.providers.mongo.hooks.mongo import MongoHook

                    self._hook = MongoHook(mongo_conn_id=self.mongo_conn_id)
                    self._collection = self._hook.get_collection(self.collection, mongo_db=self.database)
        return self._collection

    def close(self) -> None:
        with self._lock:
            if self._hook is not None and self._hook.client is not None:
                self._hook.client.close()
                self._hook.client = None
            self._hook = None
            self._collection = None

    def put(self, import_name: str, schema: dict[str, Any], *, new_version: bool, actor: str | None) -> PutResult:
        from pymongo.errors import DuplicateKeyError

        validate_import_name(import_name)
        prepared = prepare_schema(schema)
        coll = self._coll()
        for attempt in range(self.max_attempts):
            doc = coll.find_one({"_id": import_name})
            now = _now()
            if doc is None:
                entry = self._version_entry(1, prepared, now, actor)
                try:
                    coll.insert_one(
                        {
                            "_id": import_name,
                            "rev": 1,
                            "next_version": 2,
                            "active_version": 1,
                            "created_at": now,
                            "updated_at": now,
                            "versions": [entry],
                        }
                    )
                except DuplicateKeyError:
                    continue  # another writer created it first: read theirs and go on
                return PutResult(import_name=import_name, version=1, outcome=PutOutcome.CREATED, draft=prepared.draft)

            versions = doc["versions"]
            active = versions[-1]
            if active["fingerprint"] == prepared.fingerprint:
                return PutResult(
                    import_name=import_name,
                    version=active["version"],
                    outcome=PutOutcome.UNCHANGED,
                    draft=active["draft"],
                )
            if new_version:
                number = doc["next_version"]
                update: dict[str, Any] = {
                    "$push": {"versions": self._version_entry(number, prepared, now, actor)},
                    "$set": {"active_version": number, "next_version": number + 1, "updated_at": now},
                    "$inc": {"rev": 1},
                }
                outcome = PutOutcome.NEW_VERSION
            else:
                number = active["version"]
                slot = f"versions.{len(versions) - 1}"
                update = {
                    "$set": {
                        f"{slot}.source": prepared.source,
                        f"{slot}.fingerprint": prepared.fingerprint,
                        f"{slot}.draft": prepared.draft,
                        f"{slot}.updated_at": now,
                        f"{slot}.updated_by": actor,
                        "updated_at": now,
                    },
                    "$inc": {"rev": 1},
                }
                outcome = PutOutcome.REPLACED
            if coll.update_one({"_id": import_name, "rev": doc["rev"]}, update).matched_count == 1:
                return PutResult(import_name=import_name, version=number, outcome=outcome, draft=prepared.draft)
            _backoff(attempt)
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")

    @staticmethod
    def _version_entry(number: int, prepared: PreparedSchema, now: datetime, actor: str | None) -> dict[str, Any]:
        return {
            "version": number,
            "source": prepared.source,
            "fingerprint": prepared.fingerprint,
            "draft": prepared.draft,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            "updated_by": actor,
        }

    def _find(self, import_name: str) -> dict[str, Any]:
        validate_import_name(import_name)
        doc = self._coll().find_one({"_id": import_name})
        if doc is None:
            raise SchemaNotFound(f"no schema named {import_name!r}")
        return doc

    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        doc = self._find(import_name)
        versions = doc["versions"]
        if version is None:
            entry = versions[-1]
        else:
            entry = next((v for v in versions if v["version"] == version), None)
            if entry is None:
                raise SchemaNotFound(f"schema {import_name!r} has no version {version}")
        return SchemaVersion(
            import_name=import_name,
            version=entry["version"],
            schema=json.loads(entry["source"]),
            draft=entry["draft"],
            created_at=_utc(entry["created_at"]),
            created_by=entry["created_by"],
            updated_at=_utc(entry["updated_at"]),
            updated_by=entry["updated_by"],
        )

    def status(self, import_name: str) -> SchemaStatus:
        doc = self._find(import_name)
        return SchemaStatus(
            import_name=import_name,
            active_version=doc["versions"][-1]["version"],
            versions=[
                VersionInfo(
                    version=v["version"],
                    draft=v["draft"],
                    created_at=_utc(v["created_at"]),
                    created_by=v["created_by"],
                    updated_at=_utc(v["updated_at"]),
                    updated_by=v["updated_by"],
                )
                for v in doc["versions"]
            ],
        )

    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        import re

        _check_prefix(prefix)
        _check_page(skip, limit)
        query = {"_id": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        coll = self._coll()
        cursor = (
            coll.find(query, {"active_version": 1, "updated_at": 1, "versions.version": 1})
            .sort("_id", 1)
            .skip(skip)
            .limit(limit)
        )
        items = [
            SchemaSummary(
                import_name=doc["_id"],
                active_version=doc["active_version"],
                version_count=len(doc["versions"]),
                updated_at=_utc(doc["updated_at"]),
            )
            for doc in cursor
        ]
        return SchemaPage(items=items, total=coll.count_documents(query))

    def remove(self, import_name: str) -> RemoveResult:
        validate_import_name(import_name)
        coll = self._coll()
        for attempt in range(self.max_attempts):
            doc = coll.find_one({"_id": import_name})
            if doc is None:
                raise SchemaNotFound(f"no schema named {import_name!r}")
            versions = doc["versions"]
            removed = versions[-1]["version"]
            guard = {"_id": import_name, "rev": doc["rev"]}
            if len(versions) == 1:
                if coll.delete_one(guard).deleted_count == 1:
                    return RemoveResult(import_name=import_name, removed_version=removed, active_version=None)
            else:
                previous = versions[-2]["version"]
                update = {
                    "$pop": {"versions": 1},
                    "$set": {"active_version": previous, "updated_at": _now()},
                    "$inc": {"rev": 1},
                }
                if coll.update_one(guard, update).matched_count == 1:
                    return RemoveResult(import_name=import_name, removed_version=removed, active_version=previous)
            _backoff(attempt)
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")


def _utc(value: datetime) -> datetime:
    # PyMongo returns naive datetimes (in UTC) unless the client was built tz_aware.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


# --- PostgreSQL --------------------------------------------------------------------------


class PostgresSchemaStore(SchemaStore):
    """
    Schemas in PostgreSQL through ``PostgresHook``: tables ``schema_entries`` (one row
    per import name) and ``schema_versions`` (one per version, the schema as JSONB
    plus its exact JSON text) in the package's own PostgreSQL schema.

    A write locks the import name's ``schema_entries`` row (``SELECT ... FOR UPDATE``)
    for its short transaction, so concurrent writers of one import name queue up and
    each sees the version the previous one wrote; writers of different names never wait.

    Tables are created on first use by :mod:`.migrations`. Each call opens its own
    connection, so one store may be shared across threads.

    :param postgres_conn_id: Airflow connection (``postgres://`` or ``postgresql://``).
    :param schema: PostgreSQL schema holding the tables.
    """

    def __init__(self, *, postgres_conn_id: str = "postgres_default", schema: str = "typecheck") -> None:
        self.postgres_conn_id = postgres_conn_id
        self.schema = schema
        self._q = quote_schema(schema)
        self._db = MigratedPostgres(postgres_conn_id, schema)

    def _connect(self) -> Any:
        return self._db.connect()

    def put(self, import_name: str, schema: dict[str, Any], *, new_version: bool, actor: str | None) -> PutResult:
        validate_import_name(import_name)
        prepared = prepare_schema(schema)
        if _holds_nul(schema):
            raise InvalidSchema("PostgreSQL cannot store the NUL character (\\u0000) in a schema", "")
        q = self._q
        with self._connect() as conn, conn.cursor() as cur:
            next_version = self._lock_entry(cur, import_name)
            cur.execute(
                f"SELECT version, fingerprint, draft FROM {q}.schema_versions"
                " WHERE import_name = %s ORDER BY version DESC LIMIT 1",
                (import_name,),
            )
            active = cur.fetchone()
            now = _now()
            if active is not None and active[1] == prepared.fingerprint:
                conn.rollback()
                return PutResult(
                    import_name=import_name, version=active[0], outcome=PutOutcome.UNCHANGED, draft=active[2]
                )
            if active is not None and not new_version:
                number, outcome = active[0], PutOutcome.REPLACED
                cur.execute(
                    f"UPDATE {q}.schema_versions SET document = %s::jsonb, source = %s, fingerprint = %s,"
                    " draft = %s, updated_at = %s, updated_by = %s WHERE import_name = %s AND version = %s",
                    (
                        prepared.source,
                        prepared.source,
                        prepared.fingerprint,
                        prepared.draft,
                        now,
                        actor,
                        import_name,
                        number,
                    ),
                )
            else:
                number = next_version
                outcome = PutOutcome.CREATED if active is None else PutOutcome.NEW_VERSION
                cur.execute(
                    f"INSERT INTO {q}.schema_versions (import_name, version, document, source, fingerprint,"
                    " draft, created_at, created_by, updated_at, updated_by)"
                    " VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        import_name,
                        number,
                        prepared.source,
                        prepared.source,
                        prepared.fingerprint,
                        prepared.draft,
                        now,
                        actor,
                        now,
                        actor,
                    ),
                )
                cur.execute(
                    f"UPDATE {q}.schema_entries SET next_version = %s WHERE import_name = %s",
                    (number + 1, import_name),
                )
            cur.execute(f"UPDATE {q}.schema_entries SET updated_at = %s WHERE import_name = %s", (now, import_name))
            conn.commit()
        return PutResult(import_name=import_name, version=number, outcome=outcome, draft=prepared.draft)

    def _lock_entry(self, cur: Any, import_name: str) -> int:
        """Create the entry row if needed, lock it, and return its next version number."""
        q = self._q
        # A concurrent remove may delete the row between our insert and our lock
        # (we then lock nothing): insert again. Each retry needs a remove in between.
        for _ in range(100):
            cur.execute(
                f"INSERT INTO {q}.schema_entries (import_name) VALUES (%s) ON CONFLICT (import_name) DO NOTHING",
                (import_name,),
            )
            cur.execute(
                f"SELECT next_version FROM {q}.schema_entries WHERE import_name = %s FOR UPDATE",
                (import_name,),
            )
            row = cur.fetchone()
            if row is not None:
                return row[0]
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")

    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        validate_import_name(import_name)
        columns = "version, source, draft, created_at, created_by, updated_at, updated_by"
        with self._connect() as conn, conn.cursor() as cur:
            if version is None:
                cur.execute(
                    f"SELECT {columns} FROM {self._q}.schema_versions WHERE import_name = %s"
                    " ORDER BY version DESC LIMIT 1",
                    (import_name,),
                )
            else:
                cur.execute(
                    f"SELECT {columns} FROM {self._q}.schema_versions WHERE import_name = %s AND version = %s",
                    (import_name, version),
                )
            row = cur.fetchone()
            conn.rollback()
        if row is None:
            which = "" if version is None else f" version {version}"
            raise SchemaNotFound(f"no schema named {import_name!r}{which}")
        number, source, draft, created_at, created_by, updated_at, updated_by = row
        return SchemaVersion(
            import_name=import_name,
            version=number,
            schema=json.loads(source),
            draft=draft,
            created_at=created_at,
            created_by=created_by,
            updated_at=updated_at,
            updated_by=updated_by,
        )

    def status(self, import_name: str) -> SchemaStatus:
        validate_import_name(import_name)
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT version, draft, created_at, created_by, updated_at, updated_by"
                f" FROM {self._q}.schema_versions WHERE import_name = %s ORDER BY version",
                (import_name,),
            )
            rows = cur.fetchall()
            conn.rollback()
        if not rows:
            raise SchemaNotFound(f"no schema named {import_name!r}")
        versions = [
            VersionInfo(
                version=r[0], draft=r[1], created_at=r[2], created_by=r[3], updated_at=r[4], updated_by=r[5]
            )
            for r in rows
        ]
        return SchemaStatus(import_name=import_name, active_version=versions[-1].version, versions=versions)

    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        _check_prefix(prefix)
        _check_page(skip, limit)
        q = self._q
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT e.import_name, max(v.version), count(*), e.updated_at"
                f" FROM {q}.schema_entries e JOIN {q}.schema_versions v USING (import_name)"
                " WHERE starts_with(e.import_name, %s)"
                " GROUP BY e.import_name, e.updated_at ORDER BY e.import_name OFFSET %s LIMIT %s",
                (prefix, skip, limit),
            )
            rows = cur.fetchall()
            # Entries always have a version outside a write's own transaction.
            cur.execute(f"SELECT count(*) FROM {q}.schema_entries WHERE starts_with(import_name, %s)", (prefix,))
            total = cur.fetchone()[0]
            conn.rollback()
        items = [
            SchemaSummary(import_name=r[0], active_version=r[1], version_count=r[2], updated_at=r[3]) for r in rows
        ]
        return SchemaPage(items=items, total=total)

    def remove(self, import_name: str) -> RemoveResult:
        validate_import_name(import_name)
        q = self._q
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {q}.schema_entries WHERE import_name = %s FOR UPDATE", (import_name,))
            if cur.fetchone() is None:
                conn.rollback()
                raise SchemaNotFound(f"no schema named {import_name!r}")
            cur.execute(
                f"SELECT version FROM {q}.schema_versions WHERE import_name = %s ORDER BY version DESC LIMIT 2",
                (import_name,),
            )
            newest = [r[0] for r in cur.fetchall()]
            removed = newest[0]
            if len(newest) == 1:
                # The versions go with the entry (ON DELETE CASCADE).
                cur.execute(f"DELETE FROM {q}.schema_entries WHERE import_name = %s", (import_name,))
                active: int | None = None
            else:
                cur.execute(
                    f"DELETE FROM {q}.schema_versions WHERE import_name = %s AND version = %s", (import_name, removed)
                )
                cur.execute(
                    f"UPDATE {q}.schema_entries SET updated_at = %s WHERE import_name = %s", (_now(), import_name)
                )
                active = newest[1]
            conn.commit()
        return RemoveResult(import_name=import_name, removed_version=removed, active_version=active)


# --- Selection ---------------------------------------------------------------------------


def build_schema_store(settings: TypecheckSettings | None = None, *, cached: bool = True) -> SchemaStore:
    """
    Return the schema store that ``settings.schema_store`` selects, wrapped in the
    Redis cache (:class:`~.cache.CachedSchemaStore`) unless ``cached`` is False.
    """
    if settings is None:
        from airflow_provider_typecheck.settings import get_settings

        settings = get_settings()
    store: SchemaStore
    if settings.schema_store == "postgres":
        store = PostgresSchemaStore(postgres_conn_id=settings.postgres_conn_id, schema=settings.postgres_schema)
    else:
        store = MongoSchemaStore(
            mongo_conn_id=settings.mongo_conn_id,
            database=settings.mongo_database,
            collection=settings.mongo_collection,
        )
    if not cached:
        return store
    from airflow_provider_typecheck.registry.cache import CachedSchemaStore, SchemaCache

    cache = SchemaCache(redis_conn_id=settings.redis_conn_id, ttl_seconds=settings.cache_ttl_seconds)
    return CachedSchemaStore(store, cache)
