"""Browse → Validations' list against a real Redis: merge order, filters, paging, expired tasks, the scan bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_typecheck.plugins import views
from airflow_provider_typecheck.plugins.access import ValidationAccess
from airflow_provider_typecheck.registry.models import TaskState
from airflow_provider_typecheck.registry.tasks import TaskStatusStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

pytestmark = pytest.mark.integration("redis")

EVERYONE = ValidationAccess(can_read_dag=lambda dag_id: True, is_admin=True)


@pytest.fixture
def store(redis_prefix: str) -> Iterator[TaskStatusStore]:
    services = Services(TypecheckSettings(redis_prefix=redis_prefix))
    yield services.tasks
    services.close()


def _create(store: TaskStatusStore, import_name: str, n: int, dag_id: str | None = None) -> list[str]:
    ids = []
    for i in range(n):
        airflow = None if dag_id is None else {"dag_id": dag_id, "task_id": "validate", "run_id": "r"}
        ids.append(store.create(import_name=import_name, file_name=f"{i}.csv", airflow=airflow).task_id)
    return ids


def _page(store, names, access=EVERYONE, state=None, page=1, per_page=50):
    return views.validations_page(store, names, access, state=state, page=page, per_page=per_page)


def test_newest_first_across_imports_in_pages(store) -> None:
    created = []
    for round_ in range(13):  # interleaved: a, b, c, a, b, c, ...
        for name in ("a", "b", "c"):
            created += _create(store, name, 1)
    newest_first = created[::-1]
    seen, page = [], 1
    while True:
        result = _page(store, ["a", "b", "c"], page=page, per_page=7)
        seen += [task.task_id for task in result.tasks]
        if not result.has_next:
            break
        page += 1
    assert seen == newest_first and page == 6 and not result.scan_limited


def test_state_and_visibility_filter_before_paging(store) -> None:
    mine = _create(store, "a", 5, dag_id="mine")
    _create(store, "a", 5, dag_id="theirs")
    rest = _create(store, "a", 2)
    for task_id in mine[:3]:
        store.mark_reading(task_id)
    reader = ValidationAccess(can_read_dag=lambda dag_id: dag_id == "mine", is_admin=False)
    assert [t.task_id for t in _page(store, ["a"], reader).tasks] == mine[::-1]
    reading = _page(store, ["a"], reader, state=TaskState.READING, per_page=2)
    assert [t.task_id for t in reading.tasks] == mine[2:0:-1] and reading.has_next
    assert [t.task_id for t in _page(store, ["a"], reader, state=TaskState.READING, page=2, per_page=2).tasks] == [mine[0]]
    assert set(rest) <= {t.task_id for t in _page(store, ["a"]).tasks}


def test_expired_tasks_are_skipped_without_losing_the_next_ones(store) -> None:
    ids = _create(store, "a", 40)
    # Tasks whose hash expired while their id stays in the index (an unfinished task's shorter TTL).
    client = store._redis
    for task_id in ids[25:37]:  # all of the first batch read but the newest three, and more
        client.delete(store.task_key(task_id))
    expected = [task_id for task_id in ids[::-1] if task_id not in ids[25:37]]
    assert [t.task_id for t in _page(store, ["a"]).tasks] == expected


def test_a_rare_filter_stops_at_the_scan_bound_and_says_so(store, monkeypatch) -> None:
    monkeypatch.setattr(views, "MAX_SCANNED", 15)
    _create(store, "a", 30)
    result = _page(store, ["a"], state=TaskState.FAILED)
    assert result.tasks == [] and result.scan_limited and not result.has_next
    first = _page(store, ["a"], per_page=10)
    assert len(first.tasks) == 10 and first.has_next and not first.scan_limited
