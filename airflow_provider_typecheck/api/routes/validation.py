"""Spreadsheet validation: upload (queued for the workers), status, and the report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from airflow_provider_typecheck.api import uploads
from airflow_provider_typecheck.api.deps import CurrentUser, SettingsDep, Stores, StoresDep
from airflow_provider_typecheck.api.models import TaskListOut, TaskStatusOut, ValidationAccepted
from airflow_provider_typecheck.api.responses import AUTH, errors
from airflow_provider_typecheck.registry.errors import NotFound
from airflow_provider_typecheck.registry.models import TaskState, TaskStatus

router = APIRouter(prefix="/validation", tags=["validation"])

FIRST_ERRORS = 20

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [uploads.FIELD],
                    "properties": {uploads.FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/upload/{import_name}",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_UPLOAD_BODY,
    responses=errors(400, *AUTH, 404, 413, 415),
)
def upload_spreadsheet(
    import_name: str,
    request: Request,
    user: CurrentUser,
    stores: StoresDep,
    settings: SettingsDep,
    sheet: Annotated[str | None, Query(max_length=255, description="Sheet name or 0-based index (XLSX/XLS).")] = None,
    delimiter: Annotated[str | None, Query(min_length=1, max_length=4, description="CSV delimiter.")] = None,
    schema_version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> ValidationAccepted:
    """
    Queue a spreadsheet (multipart field ``spreadsheet_file``) for validation against
    ``import_name``'s active schema, or the ``schema_version`` named.

    The file streams to the file store as it arrives and is cut off with a 413 as soon
    as it passes ``TYPECHECK_MAX_UPLOAD_BYTES``.
    """
    from airflow_provider_typecheck.jobs import JobOptions
    from airflow_provider_typecheck.jobs.filestore import UploadTooLarge

    schema = stores.schemas.active(import_name, schema_version)  # 404 before a byte is read
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + uploads.FRAMING_ALLOWANCE:
        raise _too_large(limit)
    try:
        reader = uploads.MultipartFileReader(uploads.chunks_from_loop(request.stream()),
                                             uploads.boundary_of(request.headers.get("content-type")))
        file_name = reader.open()
        uploads.sniff(file_name, reader.head())
        file_uri = stores.files.save_upload(reader, file_name, max_bytes=limit)  # type: ignore[arg-type]
    except uploads.UnsupportedFile as err:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(err)) from None
    except uploads.MalformedUpload as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except UploadTooLarge:
        raise _too_large(limit) from None
    sheet_option: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    queued = stores.publish_validation(
        import_name,
        file_uri,
        file_name=file_name,
        schema=schema,
        options=JobOptions(sheet=sheet_option, delimiter=delimiter, max_errors=settings.max_errors,
                           write_invalid_rows=True),
        submitted_by=user.username,
    )
    return ValidationAccepted(task_id=queued.task_id, import_name=import_name, schema_version=schema.version)


def _too_large(limit: int) -> HTTPException:
    # The client may still be sending: close the connection rather than read the rest.
    return HTTPException(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        f"the upload is larger than TYPECHECK_MAX_UPLOAD_BYTES ({limit} bytes)",
        headers={"Connection": "close"},
    )


@router.get("/status", responses=errors(*AUTH, 404))
def validation_status(
    request: Request,
    user: CurrentUser,
    stores: StoresDep,
    task_id: Annotated[str | None, Query(max_length=128)] = None,
    import_name: Annotated[str | None, Query(max_length=128)] = None,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskStatusOut | TaskListOut:
    """One task by ``task_id``, or the tasks of an ``import_name``, newest first."""
    if task_id is not None:
        return _status_out(request, stores, stores.tasks.get(task_id))
    if import_name is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give task_id or import_name")
    tasks = stores.tasks.for_import(import_name, skip=skip, limit=limit)
    return TaskListOut(
        data=[_status_out(request, stores, t) for t in tasks], count=stores.tasks.count_for_import(import_name)
    )


def _status_out(request: Request, stores: Stores, task: TaskStatus) -> TaskStatusOut:
    report = _report_or_none(stores, task)
    report_uri = None if report is None else _report_path(request, task.task_id)
    first = [] if report is None else report.get("errors", [])[:FIRST_ERRORS]
    return TaskStatusOut.of(task, errors=first, report_uri=report_uri)


def _report_path(request: Request, task_id: str) -> str:
    # Not request.url_for: mounted in Airflow, the request's router is Airflow's, not ours.
    own = request.app.url_path_for("validation_report", task_id=task_id)
    return f"{request.scope.get('root_path', '').rstrip('/')}{own}"


def _report_or_none(stores: Stores, task: TaskStatus) -> dict[str, Any] | None:
    if task.state not in (TaskState.VALID, TaskState.INVALID):
        return None
    try:
        return stores.files.read_report(task.task_id)
    except NotFound:
        return None


@router.get(
    "/report/{task_id}",
    name="validation_report",
    responses={
        200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}},
              "description": "The full report (json), the invalid rows (csv) or a page for people (html)."},
        **errors(*AUTH, 404, 409),
    },
)
def validation_report(
    task_id: str,
    request: Request,
    user: CurrentUser,
    stores: StoresDep,
    format: Literal["json", "csv", "html"] = "json",  # noqa: A002 - the seed's query parameter name
) -> Any:
    """The full report of a finished task."""
    task = stores.tasks.get(task_id)
    if task.state is TaskState.FAILED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"task {task_id!r} failed: {task.error}")
    if not task.state.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"task {task_id!r} is still {task.state.value}")
    if format == "csv":
        uri = stores.files.invalid_rows_uri(task_id)
        if not stores.files.exists(uri):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id!r} has no invalid rows file")
        handle = stores.files.open(uri)
        headers = {"Content-Disposition": f'attachment; filename="{task_id}.invalid.csv"'}
        return StreamingResponse(_chunks(handle), media_type="text/csv; charset=utf-8", headers=headers)
    report = stores.files.read_report(task_id)
    if format == "json":
        return JSONResponse(report)
    from airflow_provider_typecheck.api.report_page import render_report_page

    base = _report_path(request, task_id)
    return HTMLResponse(render_report_page(task, report, json_url=f"{base}?format=json",
                                           csv_url=f"{base}?format=csv"))


def _chunks(handle: Any, size: int = 1024 * 1024) -> Any:
    with handle:
        while chunk := handle.read(size):
            yield chunk
