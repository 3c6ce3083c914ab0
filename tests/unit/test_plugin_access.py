"""Who sees which validation in Airflow's pages, with Airflow's own simple auth manager deciding.

The end-to-end version, through a real ``airflow api-server`` with per-DAG permissions,
is ``tests/integration/test_airflow_plugin_pages.py``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_typecheck.plugins.access import ValidationAccess
from airflow_provider_typecheck.registry.models import AirflowOrigin, TaskState, TaskStatus


def _task(dag_id: str | None, map_index: int = -1) -> TaskStatus:
    now = datetime.now(timezone.utc)
    airflow = None if dag_id is None else AirflowOrigin(dag_id=dag_id, run_id="manual__2026-01-01T00:00:00+00:00",
                                                         task_id="validate", map_index=map_index)
    return TaskStatus(task_id="t1", import_name="users", file_name="users.csv", state=TaskState.VALID,
                      created_at=now, updated_at=now, airflow=airflow)


def test_an_airflow_validation_is_seen_by_readers_of_its_own_dag_only() -> None:
    asked: list[str] = []

    def can_read(dag_id: str) -> bool:
        asked.append(dag_id)
        return dag_id == "sales"

    access = ValidationAccess(can_read_dag=can_read, is_admin=False)
    assert access.can_see(_task("sales"))
    assert not access.can_see(_task("payroll"))
    assert not access.can_see(_task(None))  # from the REST API
    assert access.can_see(_task("sales"))
    assert asked == ["sales", "payroll"]  # one question per DAG and page view


def test_a_rest_validation_is_seen_by_administrators_only() -> None:
    admin = ValidationAccess(can_read_dag=lambda dag_id: False, is_admin=True)
    assert admin.can_see(_task(None))
    assert not admin.can_see(_task("payroll"))  # an admin of typecheck's sort, not of that DAG


@pytest.mark.parametrize(("role", "admin"), [("viewer", False), ("user", False), ("op", True), ("admin", True)])
def test_airflows_simple_auth_manager_decides(role: str, admin: bool) -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    access = ValidationAccess.for_user(SimpleAuthManager(), SimpleAuthManagerUser(username="someone", role=role))
    assert access.is_admin is admin
    assert access.can_see(_task("any_dag"))  # the simple auth manager lets every role read every DAG
    assert access.can_see(_task(None)) is admin


def test_a_user_without_a_role_sees_nothing() -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    access = ValidationAccess.for_user(SimpleAuthManager(), SimpleAuthManagerUser(username="nobody", role=None))
    assert not access.can_see(_task("any_dag")) and not access.can_see(_task(None))


def test_links_into_airflows_ui_name_the_run_and_the_task_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_typecheck.plugins.views import airflow_ui_links

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example/team-a/")
    links = airflow_ui_links(_task("sales"))
    run = "/team-a/dags/sales/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    assert links == {"dag": "/team-a/dags/sales", "run": run, "task_instance": f"{run}/tasks/validate"}
    assert airflow_ui_links(_task("sales", map_index=3))["task_instance"] == f"{run}/tasks/validate/mapped/3"
    assert airflow_ui_links(_task(None)) is None
    no_run = _task("sales").model_copy(update={"airflow": AirflowOrigin(dag_id="sales", task_id="validate")})
    assert airflow_ui_links(no_run) == {"dag": "/team-a/dags/sales"}

