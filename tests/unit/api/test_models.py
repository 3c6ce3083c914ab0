"""The REST status model: a split file's parts show in its progress, a whole file's do not."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_typecheck.api.models import TaskStatusOut
from airflow_provider_typecheck.registry.models import TaskState, TaskStatus

NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)


def _status(**fields: object) -> TaskStatus:
    return TaskStatus(task_id="t1", import_name="users", file_name="big.csv", state=TaskState.VALIDATING,
                      created_at=NOW, updated_at=NOW, rows_done=250, rows_total=1000, percent=25.0, **fields)


def test_a_split_task_shows_its_parts_done_and_in_all() -> None:
    out = TaskStatusOut.of(_status(parts_total=8, parts_done=2), report_uri=None)

    assert out.progress.model_dump() == {"rows_done": 250, "rows_total": 1000, "percent": 25.0,
                                         "parts_done": 2, "parts_total": 8}


def test_a_whole_task_shows_no_parts() -> None:
    out = TaskStatusOut.of(_status(), report_uri=None)

    assert (out.progress.parts_done, out.progress.parts_total) == (None, None)
