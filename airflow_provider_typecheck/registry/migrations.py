"""The package's PostgreSQL tables, created by an ordered list of SQL migrations.

Why not Alembic: Airflow already runs Alembic for *its* metadata database, and a
second Alembic environment (its own ``env.py``, revision files, version table) for
three small tables would be more machinery than schema. Instead :data:`MIGRATIONS`
is a tuple of numbered SQL scripts, applied in order and recorded, one row each, in
``<schema>.typecheck_migrations``. :func:`run_migrations` is idempotent and safe to
call from every process at start-up:

* it runs in one transaction (PostgreSQL DDL is transactional), so a failed
  migration leaves nothing half-applied;
* it first takes a transaction-level advisory lock keyed on the schema name, so two
  processes starting together apply each migration exactly once (without the lock,
  even ``CREATE SCHEMA IF NOT EXISTS`` can fail on a unique-violation race).

Every table lives in its own PostgreSQL schema (``typecheck`` by default), never
among Airflow's metadata tables. Migrations are append-only: never edit a released one.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import closing
from typing import TYPE_CHECKING, NamedTuple

from airflow_provider_typecheck.registry.errors import ConfigurationError

if TYPE_CHECKING:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

log = logging.getLogger(__name__)


class Migration(NamedTuple):
    id: int
    name: str
    sql: str  # ``{schema}`` is replaced by the quoted schema name


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users",
        """
        CREATE TABLE {schema}.users (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            username text NOT NULL,
            hashed_password text NOT NULL,
            role text NOT NULL CHECK (role IN ('admin', 'user')),
            is_active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        -- "Alice" and "alice" are the same account.
        CREATE UNIQUE INDEX users_username_key ON {schema}.users (lower(username));
        """,
    ),
    Migration(
        2,
        "schema registry",
        """
        -- One row per import name: the row PostgresSchemaStore locks to serialise writers.
        CREATE TABLE {schema}.schema_entries (
            import_name text PRIMARY KEY,
            next_version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE {schema}.schema_versions (
            import_name text NOT NULL REFERENCES {schema}.schema_entries ON DELETE CASCADE,
            version integer NOT NULL,
            document jsonb NOT NULL,
            source text NOT NULL,
            fingerprint text NOT NULL,
            draft text NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text,
            updated_at timestamptz NOT NULL,
            updated_by text,
            PRIMARY KEY (import_name, version)
        );
        """,
    ),
)

_PG_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_NAMESPACE = "typecheck_migrations:"
_done: set[tuple[str, str]] = set()
_done_lock = threading.Lock()


def quote_schema(schema: str) -> str:
    """Quote a schema name for DDL; the settings already restrict it to a plain identifier."""
    if not _PG_IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(f"invalid PostgreSQL schema name {schema!r}")
    return f'"{schema}"'


def run_migrations(hook: PostgresHook, schema: str) -> list[int]:
    """
    Apply every migration not yet recorded in ``schema``; return the ids applied now.

    :param hook: the hook whose connection holds the database.
    :param schema: the PostgreSQL schema for the package's tables (created if missing).
    """
    quoted = quote_schema(schema)
    applied_now: list[int] = []
    with closing(hook.get_conn()) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK_NAMESPACE + schema,))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {quoted}.typecheck_migrations ("
                " id integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute(f"SELECT id FROM {quoted}.typecheck_migrations")
            done = {row[0] for row in cur.fetchall()}
            for migration in MIGRATIONS:
                if migration.id in done:
                    continue
                log.info("Applying migration %s (%s) to schema %s", migration.id, migration.name, schema)
                cur.execute(migration.sql.format(schema=quoted))
                cur.execute(
                    f"INSERT INTO {quoted}.typecheck_migrations (id, name) VALUES (%s, %s)",
                    (migration.id, migration.name),
                )
                applied_now.append(migration.id)
        conn.commit()
    return applied_now


def ensure_migrated(hook: PostgresHook, conn_id: str, schema: str) -> None:
    """Run :func:`run_migrations` once per process for this connection and schema."""
    key = (conn_id, schema)
    if key in _done:
        return
    with _done_lock:
        if key not in _done:
            run_migrations(hook, schema)
            _done.add(key)


class MigratedPostgres:
    """A ``PostgresHook`` built on first use, with the package's migrations applied once.

    The stores that keep tables in PostgreSQL share this, so none of them opens a
    connection at construction and each one sees its tables migrated.
    """

    def __init__(self, postgres_conn_id: str, schema: str) -> None:
        self.postgres_conn_id = postgres_conn_id
        self.schema = schema
        self._hook: PostgresHook | None = None
        self._lock = threading.Lock()

    def connect(self) -> closing:
        """A new connection, closed when the ``with`` block ends."""
        if self._hook is None:
            with self._lock:
                if self._hook is None:
                    from airflow.providers.postgres.hooks.postgres import PostgresHook

                    hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
                    ensure_migrated(hook, self.postgres_conn_id, self.schema)
                    self._hook = hook
        return closing(self._hook.get_conn())
