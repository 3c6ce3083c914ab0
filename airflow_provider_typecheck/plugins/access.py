"""Who may see a validation in Airflow's pages: decided from the task's own DAG.

A validation submitted by ``SpreadsheetValidateOperator`` records its task instance
(``TaskStatus.airflow``); Airflow's pages show it to the users Airflow lets read that
DAG's XComs, the place the operator's result lives. A ``dag_id`` named by the request is
never what decides: it would let a reader of any one DAG read every report.

A validation submitted over the REST API (or by the CLI's API client) has no DAG. Its
owner is a user of the REST API, a different set of accounts from Airflow's, so Airflow's
pages show it only to Airflow's administrators, taken as the users Airflow lets edit
connections: they hold the credentials of the stores the reports live in, so hiding a
report from them protects nothing. Everyone else sees those validations through the REST
API, where the submitter and typecheck's admins do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_typecheck.registry.models import TaskStatus


class ValidationAccess:
    """
    What one Airflow user may see of the validations.

    :param can_read_dag: whether the user may read the XComs of a DAG (asked once per DAG).
    :param is_admin: whether the user sees validations that came from no DAG.
    """

    def __init__(self, *, can_read_dag: Callable[[str], bool], is_admin: bool) -> None:
        self._can_read_dag = can_read_dag
        self.is_admin = is_admin
        self._dags: dict[str, bool] = {}

    def can_read_dag(self, dag_id: str) -> bool:
        if dag_id not in self._dags:
            self._dags[dag_id] = bool(self._can_read_dag(dag_id))
        return self._dags[dag_id]

    def can_see(self, task: TaskStatus) -> bool:
        if task.airflow is None:
            return self.is_admin
        return self.can_read_dag(task.airflow.dag_id)

    @classmethod
    def for_user(cls, auth_manager: Any, user: Any) -> ValidationAccess:
        """The access of ``user`` as Airflow's auth manager decides it."""
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        def can_read_dag(dag_id: str) -> bool:
            return auth_manager.is_authorized_dag(
                method="GET", access_entity=DagAccessEntity.XCOM,
                details=DagDetails(id=dag_id, team_name=_team_of(dag_id)), user=user,
            )

        return cls(can_read_dag=can_read_dag, is_admin=auth_manager.is_authorized_connection(method="PUT", user=user))


def _team_of(dag_id: str) -> str | None:
    # Only multi-team deployments have teams; elsewhere this would be a query per DAG for nothing.
    from airflow.configuration import conf

    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    from airflow.models.dag import DagModel

    return DagModel.get_team_name(dag_id)
