"""Pages inside Airflow's UI: a task instance's validation report, and Browse → Validations.

Mounted by the plugin at ``/typecheck/ui`` in ``airflow api-server``. Unlike the REST API
(our bearer tokens), these pages are reached from Airflow's UI with the user's Airflow
session, and Airflow's auth manager decides what they show: a validation is visible to
the users who may read its *own* DAG, recorded with it when an Airflow task submitted it
(see :mod:`.access`); a validation from the REST API only to Airflow's administrators.
Whatever a user may not see answers exactly as a validation that does not exist (404).

This module is imported only when the API server builds the pages (the plugin builds
them on the first request), so it may import Airflow's API-server modules at the top.
"""

from __future__ import annotations

import heapq
import html
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from airflow_provider_typecheck.plugins.access import ValidationAccess
from airflow_provider_typecheck.plugins.paths import REPORT_VIEW, UI_PREFIX
from airflow_provider_typecheck.registry.models import IMPORT_NAME_PATTERN, TaskState

if TYPE_CHECKING:
    from jinja2 import Template

    from airflow_provider_typecheck.registry.models import TaskStatus
    from airflow_provider_typecheck.registry.tasks import TaskStatusStore
    from airflow_provider_typecheck.services import Services

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Import names the page offers (and reads) at most, from the schema registry.
MAX_IMPORTS = 500
# Tasks read per import name per round trip while filling a page: a few first (the
# merge starts by reading every import once), more once an import proves busy.
FIRST_BATCH = 10
BATCH = 100
# The most tasks one page view reads: a filter that matches almost nothing stops here
# instead of reading every task of every import (the page then says so).
MAX_SCANNED = 5000
TEMPLATES = Path(__file__).with_name("templates")
# The list page's own policy: no script, nothing loaded from anywhere, its inline style,
# its filter form submitting to itself, framed only by Airflow's UI (same origin).
VALIDATIONS_PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'self'")


def validation_access(user: Annotated[Any, Depends(get_user)]) -> ValidationAccess:
    """The current Airflow user's access to validations, as Airflow's auth manager decides it."""
    from airflow.api_fastapi.app import get_auth_manager

    return ValidationAccess.for_user(get_auth_manager(), user)


AccessDep = Annotated[ValidationAccess, Depends(validation_access)]


# --- stores ---------------------------------------------------------------------------


def _services() -> Services:
    # The process's services, shared with the REST API mounted in the same API server.
    from airflow_provider_typecheck.services import get_services

    return get_services()


def _import_names() -> list[str]:
    store, names = _services().schemas, []
    while len(names) < MAX_IMPORTS:
        page = store.list(skip=len(names), limit=min(100, MAX_IMPORTS - len(names)))
        names += [summary.import_name for summary in page.items]
        if len(names) >= page.total or not page.items:
            break
    return names


def visible_task_or_404(task_id: str, access: ValidationAccess) -> TaskStatus:
    """The task, if this user may see it; 404 alike for unknown and forbidden."""
    from airflow_provider_typecheck.registry.errors import InvalidInput, TaskNotFound

    try:
        task = _services().results.status(task_id)
    except (TaskNotFound, InvalidInput):
        task = None
    if task is None or not access.can_see(task):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no validation task {task_id!r}")
    return task


# --- pages ----------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _template(name: str) -> Template:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    return environment.get_template(name)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a202c}"
        "table{border-collapse:collapse}td,th{border:1px solid #cbd5e0;padding:.3rem .6rem;text-align:left}"
        ".valid{color:#276749}.invalid,.failed{color:#c53030}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def report_response(task: TaskStatus) -> HTMLResponse:
    """The report page of one validation task (the REST API's page, its links pointing here)."""
    from airflow_provider_typecheck.api import reports

    task_id = task.task_id
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


def airflow_ui_links(task: TaskStatus) -> dict[str, str] | None:
    """Links into Airflow's UI to the DAG, run and task instance that submitted ``task`` (as far as recorded)."""
    if task.airflow is None:
        return None
    from airflow.configuration import conf

    root = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    origin = task.airflow
    links = {"dag": f"{root}/dags/{quote(origin.dag_id, safe='')}"}
    if origin.run_id:
        links["run"] = f"{links['dag']}/runs/{quote(origin.run_id, safe='')}"
        links["task_instance"] = f"{links['run']}/tasks/{quote(origin.task_id, safe='')}"
        if origin.map_index >= 0:
            links["task_instance"] += f"/mapped/{origin.map_index}"
    return links


@dataclass(frozen=True)
class ValidationsPage:
    """One page of the validations a user may see, newest first."""

    tasks: list[TaskStatus]
    has_next: bool
    scan_limited: bool  # MAX_SCANNED tasks were read before the page was full


def _newest_first(store: TaskStatusStore, import_name: str) -> Iterator[TaskStatus]:
    # Reading drops expired tasks from the index, which moves the later ones up: the
    # next read starts after the tasks found, not after the positions read.
    skip, size = 0, FIRST_BATCH
    while True:
        batch = store.for_import(import_name, skip=skip, limit=size)
        if not batch and store.count_for_import(import_name) <= skip:
            return
        yield from batch
        skip, size = skip + len(batch), BATCH


def validations_page(
    store: TaskStatusStore, import_names: list[str], access: ValidationAccess, *,
    state: TaskState | None, page: int, per_page: int,
) -> ValidationsPage:
    """The ``page``-th page of the tasks of ``import_names`` that ``access`` may see, in ``state`` if given."""
    merged = heapq.merge(*(_newest_first(store, name) for name in import_names),
                         key=lambda task: task.created_at, reverse=True)
    scanned = islice(merged, MAX_SCANNED)
    wanted = (task for task in scanned if (state is None or task.state is state) and access.can_see(task))
    found = list(islice(wanted, (page - 1) * per_page, page * per_page + 1))
    limited = len(found) <= per_page and next(merged, None) is not None
    return ValidationsPage(tasks=found[:per_page], has_next=len(found) > per_page, scan_limited=limited)


router = APIRouter()


@router.get("/task-instance", response_class=HTMLResponse,
            dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.XCOM))])
def task_instance_report(
    dag_id: str, run_id: str, task_id: str, access: AccessDep, map_index: Annotated[str, Query()] = "-1",
) -> HTMLResponse:
    """The validation behind a task instance of ``SpreadsheetValidateOperator`` (its XCom)."""
    # Reading the XCom of the DAG the request names is what Airflow's own XCom route
    # allows (requires_access_dag above); the validation it points to is then shown only
    # if its own DAG is readable too, so an XCom naming another DAG's validation shows nothing.
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
    # A worker's validation has a report to show; a local one only its counts. XComs
    # written before the rename carry the id as "task_id" and no mode.
    worker_id = xcom.get("validation_id") if xcom.get("mode", "worker") == "worker" else None
    validation_id = worker_id or xcom.get("task_id")
    if validation_id:
        return report_response(visible_task_or_404(str(validation_id), access))
    return _local_summary(xcom)


@router.get("/validations", response_class=HTMLResponse)
def validations(
    access: AccessDep,
    import_name: Annotated[str | None, Query(pattern=IMPORT_NAME_PATTERN)] = None,
    state: TaskState | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> HTMLResponse:
    """Browse → Validations: the validations this user may see, newest first; filter by import and state."""
    known = _import_names()
    names = [import_name] if import_name else known
    result = validations_page(_services().tasks, names, access, state=state, page=page, per_page=per_page)

    def page_url(number: int) -> str:
        query = {"import_name": import_name, "state": state.value if state else None, "page": number,
                 "per_page": per_page if per_page != PAGE_SIZE else None}
        return f"{UI_PREFIX}/validations?" + urlencode({key: value for key, value in query.items() if value})

    rows = [{"task": task, "links": airflow_ui_links(task)} for task in result.tasks]
    return HTMLResponse(_template("validations.html").render(
        rows=rows, import_names=sorted(set(known) | ({import_name} if import_name else set())),
        import_name=import_name, state=state.value if state else None, states=[s.value for s in TaskState],
        page=page, per_page=per_page, ui_prefix=UI_PREFIX, is_admin=access.is_admin,
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if result.has_next else None,
        scan_limited=result.scan_limited, max_scanned=MAX_SCANNED,
    ), headers={"Content-Security-Policy": VALIDATIONS_PAGE_POLICY})


@router.get("/validations/{task_id}", response_class=HTMLResponse)
def validation_page(task_id: str, access: AccessDep) -> HTMLResponse:
    return report_response(visible_task_or_404(task_id, access))


@router.get("/validations/{task_id}/report.json")
def validation_report_json(task_id: str, access: AccessDep) -> JSONResponse:
    from airflow_provider_typecheck.api import reports
    from airflow_provider_typecheck.jobs.filestore import ReportNotFound

    task = visible_task_or_404(task_id, access)
    try:
        return reports.report_json_response(_services(), task)
    except ReportNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/validations/{task_id}/invalid.csv")
def validation_invalid_rows(task_id: str, access: AccessDep) -> StreamingResponse:
    from airflow_provider_typecheck.api import reports

    visible_task_or_404(task_id, access)
    # Formula-leading cells neutralised, as the REST API's download does by default.
    return reports.invalid_rows_response(_services(), task_id)


def create_ui_app() -> FastAPI:
    """The pages Airflow's UI embeds (external views); built by the plugin on first request."""
    from airflow_provider_typecheck.api.middleware import SecurityHeaders

    app = FastAPI(title="typecheck in Airflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
    return app
