"""Shared by every test: each test starts with the process's services unbuilt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_process_services() -> Iterator[None]:
    # get_services() caches the process's Services, built from the settings of the moment;
    # a test that sets TYPECHECK_* or AIRFLOW_CONN_* must not see the previous test's.
    from airflow_provider_typecheck.services import get_services

    get_services.cache_clear()
    yield
    if get_services.cache_info().currsize:
        get_services().close()
    get_services.cache_clear()
