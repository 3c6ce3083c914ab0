"""An auth manager for the plugin tests: Airflow's simple one, with per-DAG read permissions.

The simple auth manager lets every role read every DAG; the plugin's rule ("a validation
is seen by the readers of its own DAG") needs users who can read some DAGs and not
others, as FAB or Keycloak deployments have. Users listed in ``DAG_OF_USER`` may read
that one DAG and nothing else; everyone else is as the simple auth manager says.
Loaded by a real ``airflow api-server`` through ``[core] auth_manager``.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DAG_OF_USER = {"alice": "dag_a", "bob": "dag_b"}


class OneDagPerUserAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        allowed = DAG_OF_USER.get(user.username)
        if allowed is None:
            return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
        return method == "GET" and details is not None and details.id == allowed
