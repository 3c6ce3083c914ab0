"""Pages inside Airflow's UI: a task instance's validation report, and the recent validations.

Mounted by the plugin at ``/typecheck/ui`` in ``airflow api-server``. Unlike the REST API
(our bearer tokens), these pages are reached from Airflow's UI with the user's Airflow
session: Airflow's own ``requires_access_dag`` dependency checks it, so a user sees a
report only where Airflow lets them read the DAG's XComs.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from airflow_provider_typecheck.plugins.paths import REPORT_VIEW

if TYPE_CHECKING:
    from airflow_provider_typecheck.registry.models import TaskStatus
    from airflow_provider_typecheck.services import Services

RECENT_IMPORTS = 20
RECENT_TASKS = 10


def _dag_read(entity: str | None = None) -> Any:
    # Imported when the app is built, in the API server: other processes load the plugin too.
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", DagAccessEntity[entity] if entity else None))


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a202c}"
        "table{border-collapse:collapse}td,th{border:1px solid #cbd5e0;padding:.3rem .6rem;text-align:left}"
        ".valid{color:#276749}.invalid,.failed{color:#c53030}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _services() -> Services:
    # The process's services, shared with the REST API mounted in the same API server.
    from airflow_provider_typecheck.services import get_services

    return get_services()


def _task_or_404(task_id: str) -> TaskStatus:
    from airflow_provider_typecheck.registry.errors import InvalidInput, TaskNotFound

    try:
        return _services().results.status(task_id)
    except (TaskNotFound, InvalidInput):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no validation task {task_id!r}") from None


def report_response(task_id: str) -> HTMLResponse:
    """The report page of one validation task (the REST API's page, its links pointing here)."""
    from airflow_provider_typecheck.api import reports

    task = _task_or_404(task_id)
    if not task.state.finished or task.state.value == "failed":
        detail = task.error if task.state.value == "failed" else f"{task.state.value}, {task.percent or 0:.0f}% done"
        return _page(f"Validation {task_id}", f"<p class='{task.state.value}'>{html.escape(str(detail))}</p>")
    base = REPORT_VIEW.format(task_id=task_id)
    return reports.report_page_response(_services(), task, json_url=f"{base}/report.json",
                                        csv_url=f"{base}/invalid.csv")


def _local_summary(xcom: dict[str, Any]) -> HTMLResponse:
    rows = "".join(
        f"<tr><td>{html.escape(column or '(row)')}</td><td>{html.escape(str(keyword))}</td><td>{count}</td></tr>"
        for column, by_keyword in (xcom.get("errors_by_column") or {}).items()
        for keyword, count in by_keyword.items()
    )
    body = (
        f"<p class='{html.escape(xcom['state'])}'>{html.escape(xcom['state'])}: {xcom['invalid_rows']} of "
        f"{xcom['total_rows']} rows invalid (validated in the task; the full error list is in its log).</p>"
        f"<table><tr><th>column</th><th>keyword</th><th>rows</th></tr>{rows}</table>"
    )
    return _page("Validation in the task", body)


router = APIRouter()


@router.get("/task-instance", response_class=HTMLResponse, dependencies=[_dag_read("XCOM")])
def task_instance_report(dag_id: str, run_id: str, task_id: str, map_index: Annotated[str, Query()] = "-1") -> HTMLResponse:
    """The validation behind a task instance of ``SpreadsheetValidateOperator`` (its XCom)."""
    # Airflow's UI leaves "{MAP_INDEX}" unreplaced on the page of a task that is not mapped.
    index = int(map_index) if map_index.lstrip("-").isdigit() else -1
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, key="return_value", dag_ids=dag_id, task_ids=task_id,
                               map_indexes=index)
        ).first()
        xcom = XComModel.deserialize_value(row) if row is not None else None
    if not isinstance(xcom, dict) or "state" not in xcom or "total_rows" not in xcom:
        return _page("No validation", "<p>This task instance has no validation result (yet).</p>")
    if xcom.get("task_id"):
        return report_response(xcom["task_id"])
    return _local_summary(xcom)


@router.get("/validations", response_class=HTMLResponse, dependencies=[_dag_read()])
def recent_validations(import_name: str | None = None) -> HTMLResponse:
    """The newest validation tasks of each import name (or of one)."""
    services = _services()
    names = [import_name] if import_name else [s.import_name for s in services.schemas.list(limit=RECENT_IMPORTS).items]
    store = services.tasks
    rows = []
    for name in names:
        for task in store.for_import(name, limit=RECENT_TASKS):
            invalid = (task.summary or {}).get("invalid_rows", "")
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td><a href='{REPORT_VIEW.format(task_id=html.escape(task.task_id))}'>"
                f"{html.escape(task.file_name)}</a></td><td class='{task.state.value}'>{task.state.value}</td>"
                f"<td>{invalid}</td><td>{task.created_at:%Y-%m-%d %H:%M:%S}</td></tr>"
            )
    table = "<tr><th>import</th><th>file</th><th>state</th><th>invalid rows</th><th>created (UTC)</th></tr>"
    return _page("Recent validations", f"<table>{table}{''.join(rows)}</table>" if rows else "<p>No validations yet.</p>")


@router.get("/validations/{task_id}", response_class=HTMLResponse, dependencies=[_dag_read()])
def validation_page(task_id: str) -> HTMLResponse:
    return report_response(task_id)


@router.get("/validations/{task_id}/report.json", dependencies=[_dag_read()])
def validation_report_json(task_id: str) -> JSONResponse:
    from airflow_provider_typecheck.api import reports
    from airflow_provider_typecheck.jobs.filestore import ReportNotFound

    _task_or_404(task_id)
    try:
        return reports.report_json_response(_services(), task_id)
    except ReportNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/validations/{task_id}/invalid.csv", dependencies=[_dag_read()])
def validation_invalid_rows(task_id: str) -> StreamingResponse:
    from airflow_provider_typecheck.api import reports

    _task_or_404(task_id)
    return reports.invalid_rows_response(_services(), task_id)


def create_ui_app() -> FastAPI:
    """The pages Airflow's UI embeds (external views); built by the plugin on first request."""
    app = FastAPI(title="typecheck in Airflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app
