"""What a kept PostgreSQL connection saves: ``active()`` and ``user_for_token()`` per call.

Times the same calls on stores that keep idle connections (the default pool) and on
stores that open a connection per call (``pool_size=0``, how the stores worked before),
in one run, against the real server, and prints the medians and their ratio.

    .venv/bin/python benchmarks/store_connections.py [--calls 500] [--uri postgresql://...]

Works in a PostgreSQL schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from pydantic import SecretStr


def _median_ms(call: Callable[[], object], calls: int) -> float:
    call()  # first use: migrations, the pool's first connection
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    default_uri = os.environ.get("TYPECHECK_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--uri", default=default_uri)
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="typecheck-bench-airflow-"))

    from airflow_provider_typecheck.registry.migrations import PostgresDatabase
    from airflow_provider_typecheck.registry.models import UserCreate
    from airflow_provider_typecheck.registry.postgres_schemas import PostgresSchemaStore
    from airflow_provider_typecheck.registry.security import decode_access_token
    from airflow_provider_typecheck.registry.users import UserStore
    from airflow_provider_typecheck.services import Services
    from airflow_provider_typecheck.settings import TypecheckSettings

    schema = f"typecheck_bench_{uuid.uuid4().hex[:12]}"
    settings = TypecheckSettings(jwt_secret=SecretStr(uuid.uuid4().hex + uuid.uuid4().hex), postgres_uri=args.uri,
                                 postgres_schema=schema)
    services = Services(settings)
    rows = []
    try:
        for label, pool_size in (("new connection per call", 0), ("kept connection (pool)", 8)):
            database = PostgresDatabase(services.postgres_connect, schema, name="bench", pool_size=pool_size)
            schemas = PostgresSchemaStore(database)
            users = UserStore(database)
            if not rows:
                schemas.put("bench.orders", {"type": "object"}, new_version=True, actor=None)
                user = users.create(UserCreate(username="bench-user", password=SecretStr("bench password")))
            claims = decode_access_token(users.issue_access_token(user.id, settings=settings), settings=settings)
            active = _median_ms(lambda: schemas.active("bench.orders"), args.calls)  # noqa: B023 - called at once
            per_request = _median_ms(lambda: users.user_for_token(claims), args.calls)  # noqa: B023
            rows.append((label, active, per_request))
            database.close()
    finally:
        with services.postgres_connect() as conn, conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.commit()

    print(f"median of {args.calls} calls each")
    print(f"{'':28}{'active()':>12}{'user_for_token()':>20}")
    for label, active, per_request in rows:
        print(f"{label:28}{active:>10.3f} ms{per_request:>18.3f} ms")
    (_, old_active, old_user), (_, new_active, new_user) = rows
    print(f"{'speed-up':28}{old_active / new_active:>11.1f}x{old_user / new_user:>19.1f}x")


if __name__ == "__main__":
    main()
