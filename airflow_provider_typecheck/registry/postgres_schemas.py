"""The schema registry in PostgreSQL: a row per import name, a row per version (JSONB and its text)."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_typecheck.registry.errors import InvalidSchema, SchemaNotFound
from airflow_provider_typecheck.registry.migrations import PostgresDatabase, quote_schema
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
    SchemaStore,
    check_expected,
    check_page,
    check_prefix,
    check_writer,
    utc_now,
    validate_import_name,
)
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH


class PostgresSchemaStore(SchemaStore):
    """
    Schemas in PostgreSQL: tables ``schema_entries`` (one row
    per import name) and ``schema_versions`` (one per version, the schema as JSONB
    plus its exact JSON text) in the package's own PostgreSQL schema.

    A write locks the import name's ``schema_entries`` row (``SELECT ... FOR UPDATE``)
    for its short transaction, so concurrent writers of one import name queue up and
    each sees the version the previous one wrote; writers of different names never wait.

    After its last version is removed the entry row stays (a tombstone holding
    ``next_version``), so the name's next upload continues the numbering.

    Tables are created on first use by :mod:`.migrations`. Each call borrows a
    connection from the database's pool, so one store may be shared across threads.

    :param database: the package's PostgreSQL (the composition root's pool; the store does not close it).
    :param max_schema_bytes: largest schema accepted, as compact JSON.
    :param max_schema_depth: deepest nesting accepted.
    """

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES,
        max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH,
    ) -> None:
        self.schema = database.schema
        self.max_schema_bytes = max_schema_bytes
        self.max_schema_depth = max_schema_depth
        self._q = quote_schema(database.schema)
        self._db = database

    def _connect(self) -> Any:
        return self._db.connect()

    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        self._db.ping(timeout)

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
                check_writer(import_name, writer, owner)
            elif writer is not None:
                # A new name, or one whose versions were all removed: its creator owns it.
                cur.execute(f"UPDATE {q}.schema_entries SET owner = %s WHERE import_name = %s",
                            (writer.user_id, import_name))
            check_expected(import_name, expected_version, active[0] if active else None)
            now = utc_now()
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
        check_prefix(prefix)
        check_page(skip, limit)
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
                check_writer(import_name, writer, row[0])
            check_expected(import_name, expected_version, newest[0] if newest else None)
            if not newest:
                raise SchemaNotFound(f"no schema named {import_name!r}")
            removed = newest[0]
            # The entry row stays even without versions: it holds the next number.
            cur.execute(
                f"DELETE FROM {q}.schema_versions WHERE import_name = %s AND version = %s", (import_name, removed)
            )
            cur.execute(f"UPDATE {q}.schema_entries SET updated_at = %s WHERE import_name = %s", (utc_now(), import_name))
            active = newest[1] if len(newest) > 1 else None
            conn.commit()
        return RemoveResult(import_name=import_name, removed_version=removed, active_version=active)


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character hides in any key or string: PostgreSQL text and jsonb refuse it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False
