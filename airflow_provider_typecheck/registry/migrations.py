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
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any, NamedTuple

from airflow_provider_typecheck.lazy import Once
from airflow_provider_typecheck.registry.errors import ConfigurationError

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
    Migration(
        3,
        "token versions",
        """
        -- Bumped by every change that must end the tokens issued before it
        -- (password, role, deactivation); a token carries the version it was issued at.
        ALTER TABLE {schema}.users ADD COLUMN token_version integer NOT NULL DEFAULT 0;
        """,
    ),
    Migration(
        4,
        "schema owners",
        """
        -- The user (by id) who created the import name: only they and admins may change it.
        ALTER TABLE {schema}.schema_entries ADD COLUMN owner text;
        -- Names from before: owned by the user whose name created their oldest version,
        -- where that user still exists; the rest stay ownerless (admins only).
        UPDATE {schema}.schema_entries e SET owner = u.id::text
        FROM (SELECT DISTINCT ON (import_name) import_name, created_by
              FROM {schema}.schema_versions ORDER BY import_name, version) v
        JOIN {schema}.users u ON lower(u.username) = lower(v.created_by)
        WHERE e.import_name = v.import_name;
        """,
    ),
)

_PG_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_NAMESPACE = "typecheck_migrations:"


def quote_schema(schema: str) -> str:
    """Quote a schema name for DDL; the settings already restrict it to a plain identifier."""
    if not _PG_IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(f"invalid PostgreSQL schema name {schema!r}")
    return f'"{schema}"'


def run_migrations(connect: Callable[[], Any], schema: str) -> list[int]:
    """
    Apply every migration not yet recorded in ``schema``; return the ids applied now.

    :param connect: opens a new DB-API connection to the database.
    :param schema: the PostgreSQL schema for the package's tables (created if missing).
    """
    quoted = quote_schema(schema)
    applied_now: list[int] = []
    with closing(connect()) as conn:
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


class ConnectionPool:
    """Idle connections kept for the next caller, so a read costs a query, not a connection.

    A new PostgreSQL connection costs milliseconds (authentication, a backend
    process); a kept one costs nothing. A connection goes back to the pool after a
    clean ``with`` block, rolled back if it was left in a transaction; one that failed
    so that even the rollback fails (the server went away) is closed and forgotten,
    so the next caller gets a new one.

    :param connect: opens a new DB-API connection.
    :param max_idle: connections kept between uses; 0 keeps none (a connection per call).
    """

    def __init__(self, connect: Callable[[], Any], *, max_idle: int = 8) -> None:
        self._connect = connect
        self.max_idle = max_idle
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: Any) -> None:
        try:
            conn.rollback()  # a no-op after a commit; ends whatever a failure left open
        except Exception:  # noqa: BLE001 - a broken connection is simply not kept
            _close_quietly(conn)
            return
        with self._lock:
            if len(self._idle) < self.max_idle and not conn.closed:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001, S110 - closing a dead connection may fail; it is gone either way
        pass


class PostgresDatabase:
    """The package's PostgreSQL: pooled connections, with the package's migrations applied first.

    The stores that keep tables in PostgreSQL share one of these (built by the
    composition root), so none of them opens a connection at construction and each
    one sees its tables migrated.

    :param connect: opens a new DB-API connection (the composition root's client).
    :param schema: the PostgreSQL schema holding the package's tables.
    :param name: names the database in logs (connection id and URI).
    :param pool_size: idle connections kept (see :class:`ConnectionPool`).
    """

    def __init__(self, connect: Callable[[], Any], schema: str, *, name: str, pool_size: int = 8) -> None:
        self.schema = schema
        self.name = name
        self._connect = connect
        # Once per database object (per process and configuration): the first connection
        # waits for the migrations, which run_migrations makes safe from every process at once.
        self._migrated = Once(lambda: run_migrations(connect, schema))
        self._pool = ConnectionPool(self._migrated_connection, max_idle=pool_size)

    def _migrated_connection(self) -> Any:
        self._migrated.get()
        return self._connect()

    def connect(self) -> Any:
        """A connection for one ``with`` block, taken from the pool and given back after."""
        return self._pool.connection()

    def ping(self, timeout: float) -> None:
        """Run ``SELECT 1``, the statement bounded by ``timeout`` seconds."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout * 1000)}ms",))
            cur.execute("SELECT 1")
            cur.fetchone()
            conn.rollback()

    def close(self) -> None:
        self._pool.close()
