"""Where the plugin serves its apps in Airflow's API server: one definition for the plugin, its pages and the operators' links."""

from __future__ import annotations

URL_PREFIX = "/typecheck"  # the REST API
UI_PREFIX = f"{URL_PREFIX}/ui"  # the pages in Airflow's UI
REPORT_VIEW = f"{UI_PREFIX}/validations/{{task_id}}"  # one validation task's report page
TASK_INSTANCE_VIEW = f"{UI_PREFIX}/task-instance"  # the validation behind a task instance
RECENT_VIEW = f"{UI_PREFIX}/validations"
