"""The schema registry: versioned JSON Schemas per import name, in MongoDB or PostgreSQL.

One interface, :class:`SchemaStore`, two backends reached through Airflow's hooks:

* :class:`MongoSchemaStore` (``MongoHook``), an entry document per import name and a
  document per version;
* :class:`PostgresSchemaStore` (``PostgresHook``), a row per import name and a row
  per version (JSONB).

The active version of an import name is always its newest; :meth:`SchemaStore.remove`
rolls back to the one before. Version numbers are never reused for an import name,
not even after its last version was removed and the name uploaded again (the entry
stays behind as a tombstone holding the next number), so "version 3" in an old task
status always means the schema it was checked against (unless version 3 was later
replaced in place, which the caller asked for). Writers that must not undo someone
else's change pass ``expected_version``: the write happens only if that version is
still the active one (:class:`~.errors.VersionConflict` otherwise).

Both backends are safe with concurrent writers and need no multi-document
transactions: MongoDB by compare-and-swap on a revision counter in the entry
document, PostgreSQL by locking the import name's row for the length of the write.

Schemas are stored as JSON text beside any structured copy, so keys MongoDB refuses
(``$ref``, ``$id``, ``a.b``) and key order round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import (
    ConcurrentUpdate,
    InvalidImportName,
    InvalidInput,
    InvalidSchema,
    SchemaForbidden,
    SchemaNotFound,
    VersionConflict,
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
    SchemaWriter,
    VersionInfo,
    is_valid_import_name,
)
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH

if TYPE_CHECKING:
    from pydantic import SecretStr
    from pymongo.collection import Collection

    from airflow_provider_typecheck.settings import TypecheckSettings

MAX_PAGE_SIZE = 1000
# MongoDB refuses a document larger than this; mongomock does not, so the store checks.
MONGO_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
DEFAULT_PING_TIMEOUT_SECONDS = 2.0


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


def _nesting_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def prepare_schema(
    schema: object, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> PreparedSchema:
    """
    Check ``schema``'s size and depth, meta-validate it with the core, and compute
    what the stores keep.

    The limits are checked first, before anything recursive (``json.dumps``, the
    meta-validation) walks the schema: a schema 10,000 levels deep would otherwise
    exhaust Python's stack. The fingerprint hashes the schema with sorted keys, so
    re-uploading the same schema with its keys in another order is "unchanged".

    :param max_bytes: longest schema as compact UTF-8 JSON (``TYPECHECK_MAX_SCHEMA_BYTES``).
    :param max_depth: deepest nesting of objects and arrays (``TYPECHECK_MAX_SCHEMA_DEPTH``).
    """
    if not isinstance(schema, dict):
        raise InvalidSchema("a stored schema must be a JSON object", "")
    if _nesting_deeper_than(schema, max_depth):
        raise InvalidSchema(f"the schema nests deeper than {max_depth} levels", "")
    try:
        source = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidSchema(f"schema is not plain JSON: {exc}", "") from exc
    size = len(source.encode())
    if size > max_bytes:
        raise InvalidSchema(f"the schema is {size:,} bytes as compact JSON; the limit is {max_bytes:,}", "")
    canonical = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True)
    # Imported here: the core pulls in jsonschema (and polars), which the registry's
    # importers (DAG files, the API) should not pay for until they store a schema.
    from airflow_provider_typecheck.validation.errors import SchemaError
    from airflow_provider_typecheck.validation.schema import check_schema

    try:
        draft = check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
    except SchemaError as exc:
        raise InvalidSchema(exc.message, exc.pointer) from exc
    except RecursionError:
        raise InvalidSchema("the schema's references or keywords nest too deep to check", "") from None
    return PreparedSchema(source, hashlib.sha256(canonical.encode()).hexdigest(), draft)


def _check_page(skip: int, limit: int) -> None:
    if skip < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"need skip >= 0 and 0 < limit <= {MAX_PAGE_SIZE}")


def _check_prefix(prefix: str) -> None:
    if prefix and not is_valid_import_name(prefix):
        raise InvalidImportName(f"invalid prefix {prefix!r}")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_expected(import_name: str, expected: int | None, active: int | None) -> None:
    if expected is not None and expected != active:
        now = "has no version" if active is None else f"is at version {active}"
        raise VersionConflict(f"schema {import_name!r} {now}, not the expected version {expected}")


def _check_writer(import_name: str, writer: SchemaWriter | None, owner: str | None) -> None:
    """Refuse a change of an import name that has versions by someone who may not change it."""
    if writer is not None and not writer.may_change(owner):
        raise SchemaForbidden(f"only the schema's owner or an admin may change {import_name!r}")


def _backoff(attempt: int) -> None:
    # Jittered so that writers who collided do not collide again in lockstep.
    time.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))


class SchemaStore(ABC):
    """
    Versioned schemas per import name.

    Every method validates ``import_name`` first (:class:`InvalidImportName`);
    methods that read one entry raise :class:`SchemaNotFound` when it is absent.
    """

    max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES
    max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH

    def _prepare(self, schema: object) -> PreparedSchema:
        return prepare_schema(schema, max_bytes=self.max_schema_bytes, max_depth=self.max_schema_depth)

    @abstractmethod
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
        """
        Store ``schema`` as the active version of ``import_name``.

        Creates the entry if absent (version 1, or the next number if the name had
        versions once). If the schema equals the active one, nothing is written
        (``unchanged``). Otherwise ``new_version=True`` adds a version and makes it
        active; ``new_version=False`` replaces the active version in place.

        :param expected_version: write only if this is the active version now.
        :param writer: who writes: the owner of a name it creates; for a name that has
            versions, refused unless it is the owner or an admin (checked under the
            write's own lock). None checks nothing.
        :raises InvalidSchema: too big, too deep, or refused by the core's meta-validation.
        :raises VersionConflict: ``expected_version`` is not the active version.
        :raises SchemaForbidden: ``writer`` may not change this schema.
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
    def remove(
        self, import_name: str, *, expected_version: int | None = None, writer: SchemaWriter | None = None
    ) -> RemoveResult:
        """
        Roll back: drop the active version and make the previous one active; after the
        last one the name is gone (``SchemaNotFound``) but its version numbers stay used.

        :param expected_version: remove only if this is the active version now, so two
            callers rolling back at once cannot remove two versions.
        :param writer: refused unless the owner or an admin (None checks nothing).
        :raises VersionConflict: ``expected_version`` is not the active version.
        :raises SchemaForbidden: ``writer`` may not change this schema.
        """

    @abstractmethod
    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        """Check that the backend answers within about ``timeout`` seconds; raise if not."""

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release any client held by the store."""


# --- MongoDB -----------------------------------------------------------------------------


class MongoSchemaStore(SchemaStore):
    """
    Schemas in MongoDB through ``MongoHook``: an entry document per import name in
    ``collection`` and a document per version in ``<collection>.versions``.

    Document shapes::

        entry:   {_id: import_name, rev, next_version, active_version, created_at, updated_at,
                  versions: [{version, doc}, ...]}   # oldest first; the last is active
        version: {_id: doc, import_name, version, source, fingerprint, draft,
                  created_at, created_by, updated_at, updated_by}

    The entry holds only numbers and document ids, so it stays small however many
    versions an import name has; each version's schema is a document of its own, under
    MongoDB's 16 MiB limit on one document, which this store checks before every write
    (mongomock does not enforce it). After its last version is removed the entry stays,
    with no versions, so the name's next upload continues the numbering.

    The schema is kept as JSON text (``source``) because MongoDB refuses field names
    starting with ``$`` (``$ref``, ``$schema``) or containing ``.`` in many versions.

    A write first inserts the new version document under a fresh id, then swings the
    entry to it with one update conditional on the ``rev`` it read (compare-and-swap);
    a writer that loses the race deletes its document, re-reads and retries, so two
    concurrent uploads get distinct versions and neither is lost. A version document
    is deleted only after the entry stopped naming it, so a reader that finds the entry
    naming a missing document has raced a writer and simply reads again. A process
    killed between the two steps leaves a document that no entry names: garbage,
    never seen.

    :param mongo_conn_id: Airflow connection (type ``mongo``, URI scheme ``mongo://``).
    :param database: database name.
    :param collection: collection of entry documents (versions: ``<collection>.versions``).
    :param mongo_uri: a ``mongodb://`` URI used instead of the Airflow connection.
    :param max_attempts: compare-and-swap attempts before :class:`ConcurrentUpdate`.
    :param max_schema_bytes: largest schema accepted, as compact JSON.
    :param max_schema_depth: deepest nesting accepted.
    """

    def __init__(
        self,
        *,
        mongo_conn_id: str = "mongo_default",
        database: str = "typecheck",
        collection: str = "schemas",
        mongo_uri: str | None = None,
        max_attempts: int = 200,
        max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
    ) -> None:
        self.mongo_conn_id = mongo_conn_id
        self.database = database
        self.collection = collection
        self.max_attempts = max_attempts
        self.max_schema_bytes = max_schema_bytes
        self.max_schema_depth = max_schema_depth
        self._uri = mongo_uri
        self._client: Any = None
        self._collection: Collection | None = None
        self._versions: Collection | None = None
        self._lock = threading.Lock()

    def _coll(self) -> Collection:
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    if self._uri is None:
                        from airflow.providers.mongo.hooks.mongo import MongoHook

                        client = MongoHook(mongo_conn_id=self.mongo_conn_id).get_conn()
                    else:
                        import pymongo

                        client = pymongo.MongoClient(
                            self._uri, serverSelectionTimeoutMS=int(DEFAULT_PING_TIMEOUT_SECONDS * 5000)
                        )
                    self._client = client
                    self._versions = client[self.database][f"{self.collection}.versions"]
                    self._collection = client[self.database][self.collection]
        return self._collection

    def _version_coll(self) -> Collection:
        self._coll()
        return self._versions  # type: ignore[return-value]

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        self._coll()
        self._client.admin.command("ping", maxTimeMS=int(timeout * 1000))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._collection = None
            self._versions = None

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
        prepared = self._prepare(schema)
        coll, versions = self._coll(), self._version_coll()
        for attempt in range(self.max_attempts):
            entry = coll.find_one({"_id": import_name})
            refs = entry["versions"] if entry else []
            active_ref = refs[-1] if refs else None
            if refs:
                # The swing below is conditional on the entry's rev: the owner read here is the one written over.
                _check_writer(import_name, writer, entry.get("owner"))  # type: ignore[union-attr]
            _check_expected(import_name, expected_version, active_ref["version"] if active_ref else None)
            active_doc = None
            if active_ref is not None:
                active_doc = versions.find_one({"_id": active_ref["doc"]})
                if active_doc is None:
                    _backoff(attempt)  # replaced or removed since we read the entry
                    continue
                if active_doc["fingerprint"] == prepared.fingerprint:
                    return PutResult(
                        import_name=import_name,
                        version=active_doc["version"],
                        outcome=PutOutcome.UNCHANGED,
                        draft=active_doc["draft"],
                    )
            now = _now()
            if active_doc is None or new_version:
                number = entry["next_version"] if entry else 1
                created_at, created_by = now, actor
                outcome = PutOutcome.CREATED if active_doc is None else PutOutcome.NEW_VERSION
            else:
                number = active_doc["version"]
                created_at, created_by = active_doc["created_at"], active_doc["created_by"]
                outcome = PutOutcome.REPLACED
            doc = self._version_document(import_name, number, prepared, created_at, created_by, now, actor)
            _check_document_size(doc, "the schema")
            versions.insert_one(doc)
            owner = None if writer is None else writer.user_id
            if self._swing(coll, import_name, entry, number, doc["_id"], now, replace=outcome is PutOutcome.REPLACED,
                           owner=owner):
                if outcome is PutOutcome.REPLACED:
                    versions.delete_one({"_id": active_doc["_id"]})  # type: ignore[index]
                return PutResult(import_name=import_name, version=number, outcome=outcome, draft=prepared.draft)
            versions.delete_one({"_id": doc["_id"]})  # ours, named by no entry
            _backoff(attempt)
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")

    def _swing(
        self,
        coll: Collection,
        import_name: str,
        entry: dict[str, Any] | None,
        number: int,
        doc_id: str,
        now: datetime,
        *,
        replace: bool,
        owner: str | None,
    ) -> bool:
        """
        Point the entry at a new version document, if nobody changed the entry since it was read.

        A new entry, or one whose versions were all removed, gets ``owner``.
        """
        from pymongo.errors import DuplicateKeyError

        ref = {"version": number, "doc": doc_id}
        if entry is None:
            try:
                coll.insert_one(
                    {
                        "_id": import_name,
                        "rev": 1,
                        "next_version": number + 1,
                        "active_version": number,
                        "created_at": now,
                        "updated_at": now,
                        "versions": [ref],
                        "owner": owner,
                    }
                )
            except DuplicateKeyError:
                return False  # another writer created it first: read theirs and go on
            return True
        if replace:
            update: dict[str, Any] = {
                "$set": {f"versions.{len(entry['versions']) - 1}.doc": doc_id, "updated_at": now},
                "$inc": {"rev": 1},
            }
        else:
            _check_document_size({**entry, "versions": [*entry["versions"], ref]}, f"the entry of {import_name!r}")
            changes: dict[str, Any] = {"active_version": number, "next_version": number + 1, "updated_at": now}
            if not entry["versions"]:
                changes["owner"] = owner  # a removed name is free: its new creator owns it
            update = {"$push": {"versions": ref}, "$set": changes, "$inc": {"rev": 1}}
        return coll.update_one({"_id": import_name, "rev": entry["rev"]}, update).matched_count == 1

    @staticmethod
    def _version_document(
        import_name: str,
        number: int,
        prepared: PreparedSchema,
        created_at: datetime,
        created_by: str | None,
        now: datetime,
        actor: str | None,
    ) -> dict[str, Any]:
        return {
            "_id": uuid.uuid4().hex,
            "import_name": import_name,
            "version": number,
            "source": prepared.source,
            "fingerprint": prepared.fingerprint,
            "draft": prepared.draft,
            "created_at": created_at,
            "created_by": created_by,
            "updated_at": now,
            "updated_by": actor,
        }

    def _read(self, import_name: str, wanted: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> list[dict]:
        """The version documents ``wanted`` picks from the entry's refs, read consistently."""
        validate_import_name(import_name)
        coll, versions = self._coll(), self._version_coll()
        for attempt in range(self.max_attempts):
            entry = coll.find_one({"_id": import_name})
            if entry is None or not entry["versions"]:
                raise SchemaNotFound(f"no schema named {import_name!r}")
            refs = wanted(entry["versions"])
            docs = {d["_id"]: d for d in versions.find({"_id": {"$in": [r["doc"] for r in refs]}})}
            if all(r["doc"] in docs for r in refs):
                return [docs[r["doc"]] for r in refs]
            _backoff(attempt)  # a writer replaced or removed one since we read the entry
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")

    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        def pick(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if version is None:
                return refs[-1:]
            found = [r for r in refs if r["version"] == version]
            if not found:
                raise SchemaNotFound(f"schema {import_name!r} has no version {version}")
            return found

        (doc,) = self._read(import_name, pick)
        return SchemaVersion(
            import_name=import_name,
            version=doc["version"],
            schema=json.loads(doc["source"]),
            draft=doc["draft"],
            created_at=_utc(doc["created_at"]),
            created_by=doc["created_by"],
            updated_at=_utc(doc["updated_at"]),
            updated_by=doc["updated_by"],
        )

    def status(self, import_name: str) -> SchemaStatus:
        docs = self._read(import_name, lambda refs: refs)
        return SchemaStatus(
            import_name=import_name,
            active_version=docs[-1]["version"],
            versions=[
                VersionInfo(
                    version=d["version"],
                    draft=d["draft"],
                    created_at=_utc(d["created_at"]),
                    created_by=d["created_by"],
                    updated_at=_utc(d["updated_at"]),
                    updated_by=d["updated_by"],
                )
                for d in docs
            ],
        )

    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        _check_prefix(prefix)
        _check_page(skip, limit)
        # Tombstones (no versions left) are not listed.
        query: dict[str, Any] = {"active_version": {"$ne": None}}
        if prefix:
            query["_id"] = {"$regex": "^" + re.escape(prefix)}
        coll = self._coll()
        # MongoDB compares strings bytewise, as PostgreSQL's "C" collation does.
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

    def remove(
        self, import_name: str, *, expected_version: int | None = None, writer: SchemaWriter | None = None
    ) -> RemoveResult:
        validate_import_name(import_name)
        coll, versions = self._coll(), self._version_coll()
        for attempt in range(self.max_attempts):
            entry = coll.find_one({"_id": import_name})
            if entry is None or not entry["versions"]:
                if expected_version is not None:
                    _check_expected(import_name, expected_version, None)
                raise SchemaNotFound(f"no schema named {import_name!r}")
            _check_writer(import_name, writer, entry.get("owner"))
            refs = entry["versions"]
            removed = refs[-1]
            _check_expected(import_name, expected_version, removed["version"])
            previous = refs[-2]["version"] if len(refs) > 1 else None
            update = {
                "$pop": {"versions": 1},
                "$set": {"active_version": previous, "updated_at": _now()},
                "$inc": {"rev": 1},
            }
            if coll.update_one({"_id": import_name, "rev": entry["rev"]}, update).matched_count == 1:
                versions.delete_one({"_id": removed["doc"]})
                return RemoveResult(
                    import_name=import_name, removed_version=removed["version"], active_version=previous
                )
            _backoff(attempt)
        raise ConcurrentUpdate(f"too many concurrent writers on {import_name!r}; try again")


def _check_document_size(document: dict[str, Any], what: str) -> None:
    import bson

    size = len(bson.encode(document))
    if size > MONGO_MAX_DOCUMENT_BYTES:
        raise InvalidSchema(
            f"{what} would make a MongoDB document of {size:,} bytes; MongoDB's limit is {MONGO_MAX_DOCUMENT_BYTES:,}",
            "",
        )


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

    After its last version is removed the entry row stays (a tombstone holding
    ``next_version``), so the name's next upload continues the numbering.

    Tables are created on first use by :mod:`.migrations`. Each call borrows a
    connection from a small pool, so one store may be shared across threads.

    :param postgres_conn_id: Airflow connection (``postgres://`` or ``postgresql://``).
    :param schema: PostgreSQL schema holding the tables.
    :param postgres_uri: a ``postgresql://`` URI used instead of the Airflow connection.
    :param pool_size: idle connections kept for reuse (0: a new connection per call).
    :param max_schema_bytes: largest schema accepted, as compact JSON.
    :param max_schema_depth: deepest nesting accepted.
    """

    def __init__(
        self,
        *,
        postgres_conn_id: str = "postgres_default",
        schema: str = "typecheck",
        postgres_uri: str | None = None,
        pool_size: int = 8,
        max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
    ) -> None:
        self.postgres_conn_id = postgres_conn_id
        self.schema = schema
        self.max_schema_bytes = max_schema_bytes
        self.max_schema_depth = max_schema_depth
        self._q = quote_schema(schema)
        self._db = MigratedPostgres(postgres_conn_id, schema, uri=postgres_uri, pool_size=pool_size)

    def _connect(self) -> Any:
        return self._db.connect()

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        self._db.ping(timeout)

    def close(self) -> None:
        self._db.close()

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
        prepared = self._prepare(schema)
        if _holds_nul(schema):
            raise InvalidSchema("PostgreSQL cannot store the NUL character (\\u0000) in a schema", "")
        q = self._q
        with self._connect() as conn, conn.cursor() as cur:
            next_version, owner = self._lock_entry(cur, import_name)
            cur.execute(
                f"SELECT version, fingerprint, draft FROM {q}.schema_versions"
                " WHERE import_name = %s ORDER BY version DESC LIMIT 1",
                (import_name,),
            )
            active = cur.fetchone()
            if active is not None:
                _check_writer(import_name, writer, owner)
            elif writer is not None:
                # A new name, or one whose versions were all removed: its creator owns it.
                cur.execute(f"UPDATE {q}.schema_entries SET owner = %s WHERE import_name = %s",
                            (writer.user_id, import_name))
            _check_expected(import_name, expected_version, active[0] if active else None)
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

    def _lock_entry(self, cur: Any, import_name: str) -> tuple[int, str | None]:
        """Create the entry row if needed, lock it, and return its next version number and owner."""
        q = self._q
        # Entry rows are never deleted (a removed name keeps its row), so the row
        # inserted or found here is still there to lock.
        cur.execute(
            f"INSERT INTO {q}.schema_entries (import_name) VALUES (%s) ON CONFLICT (import_name) DO NOTHING",
            (import_name,),
        )
        cur.execute(
            f"SELECT next_version, owner FROM {q}.schema_entries WHERE import_name = %s FOR UPDATE", (import_name,)
        )
        next_version, owner = cur.fetchone()
        return next_version, owner

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
                # The inner join leaves tombstones (entries without versions) out. "C":
                # bytewise, as MongoDB sorts, whatever the database's own collation.
                f"SELECT e.import_name, max(v.version), count(*), e.updated_at"
                f" FROM {q}.schema_entries e JOIN {q}.schema_versions v USING (import_name)"
                " WHERE starts_with(e.import_name, %s)"
                ' GROUP BY e.import_name, e.updated_at ORDER BY e.import_name COLLATE "C" OFFSET %s LIMIT %s',
                (prefix, skip, limit),
            )
            rows = cur.fetchall()
            cur.execute(
                f"SELECT count(DISTINCT import_name) FROM {q}.schema_versions WHERE starts_with(import_name, %s)",
                (prefix,),
            )
            total = cur.fetchone()[0]
            conn.rollback()
        items = [
            SchemaSummary(import_name=r[0], active_version=r[1], version_count=r[2], updated_at=r[3]) for r in rows
        ]
        return SchemaPage(items=items, total=total)

    def remove(
        self, import_name: str, *, expected_version: int | None = None, writer: SchemaWriter | None = None
    ) -> RemoveResult:
        validate_import_name(import_name)
        q = self._q
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT owner FROM {q}.schema_entries WHERE import_name = %s FOR UPDATE", (import_name,))
            row = cur.fetchone()
            exists = row is not None
            newest: list[int] = []
            if exists:
                cur.execute(
                    f"SELECT version FROM {q}.schema_versions WHERE import_name = %s ORDER BY version DESC LIMIT 2",
                    (import_name,),
                )
                newest = [r[0] for r in cur.fetchall()]
            if newest:
                _check_writer(import_name, writer, row[0])
            _check_expected(import_name, expected_version, newest[0] if newest else None)
            if not newest:
                raise SchemaNotFound(f"no schema named {import_name!r}")
            removed = newest[0]
            # The entry row stays even without versions: it holds the next number.
            cur.execute(
                f"DELETE FROM {q}.schema_versions WHERE import_name = %s AND version = %s", (import_name, removed)
            )
            cur.execute(f"UPDATE {q}.schema_entries SET updated_at = %s WHERE import_name = %s", (_now(), import_name))
            active = newest[1] if len(newest) > 1 else None
            conn.commit()
        return RemoveResult(import_name=import_name, removed_version=removed, active_version=active)


# --- Selection ---------------------------------------------------------------------------


def build_schema_store(settings: TypecheckSettings | None = None, *, cached: bool = True) -> SchemaStore:
    """
    Return the schema store that ``settings.schema_store`` selects, wrapped in the
    Redis cache (:class:`~.cache.CachedSchemaStore`, built by
    :func:`~.cache.build_schema_cache`) unless ``cached`` is False.

    The backend is reached through ``TYPECHECK_POSTGRES_URI`` / ``TYPECHECK_MONGO_URI``
    when set, else through the Airflow connection named by ``..._CONN_ID``.
    """
    if settings is None:
        from airflow_provider_typecheck.settings import get_settings

        settings = get_settings()
    store: SchemaStore
    limits = {"max_schema_bytes": settings.max_schema_bytes, "max_schema_depth": settings.max_schema_depth}
    if settings.schema_store == "postgres":
        store = PostgresSchemaStore(
            postgres_conn_id=settings.postgres_conn_id,
            schema=settings.postgres_schema,
            postgres_uri=_reveal(settings.postgres_uri),
            **limits,
        )
    else:
        store = MongoSchemaStore(
            mongo_conn_id=settings.mongo_conn_id,
            database=settings.mongo_database,
            collection=settings.mongo_collection,
            mongo_uri=_reveal(settings.mongo_uri),
            **limits,
        )
    if not cached:
        return store
    from airflow_provider_typecheck.registry.cache import CachedSchemaStore, build_schema_cache

    return CachedSchemaStore(store, build_schema_cache(settings))


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
