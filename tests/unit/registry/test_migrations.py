"""The package's PostgreSQL schema name is the only identifier interpolated into SQL: it is checked."""

from __future__ import annotations

import pytest

from airflow_provider_typecheck.registry.errors import ConfigurationError
from airflow_provider_typecheck.registry.migrations import MIGRATIONS, quote_schema


def test_a_plain_schema_name_is_quoted() -> None:
    assert quote_schema("typecheck_1") == '"typecheck_1"'


@pytest.mark.parametrize("name", ['a"; DROP TABLE x; --', "Upper", "1abc", "", "a" * 64])
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError):
        quote_schema(name)


def test_migrations_are_numbered_in_order_and_name_the_schema_only_through_the_placeholder() -> None:
    assert [m.id for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for migration in MIGRATIONS:
        assert "{schema}" in migration.sql and "typecheck." not in migration.sql
