"""A finished task's report as a response: JSON, the invalid rows (CSV) or the page for people.

One implementation for the REST API's report route and the plugin's pages in Airflow's
UI; each caller checks access its own way and names its own URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from fastapi import HTTPException, status
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from airflow_provider_typecheck.api.downloads import formula_safe_csv, public_report
from airflow_provider_typecheck.registry.models import TaskState

if TYPE_CHECKING:
    from airflow_provider_typecheck.registry.models import TaskStatus
    from airflow_provider_typecheck.services import Services

CHUNK_BYTES = 1024 * 1024


def require_finished(task: TaskStatus) -> TaskStatus:
    """``task`` if it finished with a report; 409 if it failed or still runs."""
    if task.state is TaskState.FAILED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"task {task.task_id!r} failed: {task.error}")
    if not task.state.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"task {task.task_id!r} is still {task.state.value}")
    return task


def report_json_response(services: Services, task: TaskStatus) -> JSONResponse:
    """The stored report, the file named as uploaded (never the file store's path)."""
    return JSONResponse(public_report(services.files.read_report(task.task_id), task.file_name))


def report_page_response(services: Services, task: TaskStatus, *, json_url: str, csv_url: str) -> HTMLResponse:
    from airflow_provider_typecheck.api.report_page import render_report_page, report_page_headers

    report = public_report(services.files.read_report(task.task_id), task.file_name)
    return HTMLResponse(render_report_page(task, report, json_url=json_url, csv_url=csv_url),
                        headers=report_page_headers())


def invalid_rows_response(services: Services, task_id: str, *, raw: bool = False) -> StreamingResponse:
    """The invalid rows the worker wrote, streamed; 404 when it wrote none.

    Cells a spreadsheet program would run as formulas are neutralised unless ``raw``
    (see :mod:`.downloads`)."""
    files = services.files
    uri = files.invalid_rows_uri(task_id)
    if not files.exists(uri):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id!r} has no invalid rows file")
    headers = {"Content-Disposition": f'attachment; filename="{task_id}.invalid.csv"'}
    handle = files.open(uri)
    body = _chunks(handle) if raw else formula_safe_csv(handle)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
