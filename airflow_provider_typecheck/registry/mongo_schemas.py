"""The schema registry in MongoDB: an entry document per import name, a document per version."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_typecheck.registry.errors import ConcurrentUpdate, InvalidSchema, SchemaNotFound
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
)
from airflow_provider_typecheck.registry.schemas import (
    DEFAULT_PING_TIMEOUT_SECONDS,
    PreparedSchema,
    SchemaStore,
    backoff,
    check_expected,
    check_page,
    check_prefix,
    check_writer,
    utc_now,
    validate_import_name,
)
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

# MongoDB refuses a document larger than this; mongomock does not, so the store checks.
MONGO_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


class MongoSchemaStore(SchemaStore):
    """
    Schemas in MongoDB: an entry document per import name in
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

    :param client: a ``pymongo.MongoClient`` (the composition root's; the store does not close it).
    :param database: database name.
    :param collection: collection of entry documents (versions: ``<collection>.versions``).
    :param max_attempts: compare-and-swap attempts before :class:`ConcurrentUpdate`.
    :param max_schema_bytes: largest schema accepted, as compact JSON.
    :param max_schema_depth: deepest nesting accepted.
    """

    def __init__(
        self,
        client: MongoClient[Any],
        *,
        database: str = "typecheck",
        collection: str = "schemas",
        max_attempts: int = 200,
        max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
    ) -> None:
        self.database = database
        self.collection = collection
        self.max_attempts = max_attempts
        self.max_schema_bytes = max_schema_bytes
        self.max_schema_depth = max_schema_depth
        self._client = client
        self._entries: Collection[Any] = client[database][collection]
        self._versions: Collection[Any] = client[database][f"{collection}.versions"]

    def _coll(self) -> Collection[Any]:
        return self._entries

    def _version_coll(self) -> Collection[Any]:
        return self._versions

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        self._client.admin.command("ping", maxTimeMS=int(timeout * 1000))

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
                check_writer(import_name, writer, entry.get("owner"))  # type: ignore[union-attr]
            check_expected(import_name, expected_version, active_ref["version"] if active_ref else None)
            active_doc = None
            if active_ref is not None:
                active_doc = versions.find_one({"_id": active_ref["doc"]})
                if active_doc is None:
                    backoff(attempt)  # replaced or removed since we read the entry
                    continue
                if active_doc["fingerprint"] == prepared.fingerprint:
                    return PutResult(
                        import_name=import_name,
                        version=active_doc["version"],
                        outcome=PutOutcome.UNCHANGED,
                        draft=active_doc["draft"],
                    )
            now = utc_now()
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
            backoff(attempt)
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
            backoff(attempt)  # a writer replaced or removed one since we read the entry
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
        check_prefix(prefix)
        check_page(skip, limit)
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
                    check_expected(import_name, expected_version, None)
                raise SchemaNotFound(f"no schema named {import_name!r}")
            check_writer(import_name, writer, entry.get("owner"))
            refs = entry["versions"]
            removed = refs[-1]
            check_expected(import_name, expected_version, removed["version"])
            previous = refs[-2]["version"] if len(refs) > 1 else None
            update = {
                "$pop": {"versions": 1},
                "$set": {"active_version": previous, "updated_at": utc_now()},
                "$inc": {"rev": 1},
            }
            if coll.update_one({"_id": import_name, "rev": entry["rev"]}, update).matched_count == 1:
                versions.delete_one({"_id": removed["doc"]})
                return RemoveResult(
                    import_name=import_name, removed_version=removed["version"], active_version=previous
                )
            backoff(attempt)
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
