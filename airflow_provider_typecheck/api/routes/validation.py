"""Spreadsheet validation: upload (queued for the workers), status, and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from airflow_provider_typecheck.api import reports, uploads
from airflow_provider_typecheck.api.deps import CurrentUser, ServicesDep, SettingsDep
from airflow_provider_typecheck.api.middleware import body_too_large
from airflow_provider_typecheck.api.models import TaskListOut, TaskStatusOut, ValidationAccepted
from airflow_provider_typecheck.api.responses import AUTH, errors
from airflow_provider_typecheck.registry.errors import TaskNotFound
from airflow_provider_typecheck.registry.models import TaskState, TaskStatus, UserPublic
from airflow_provider_typecheck.settings import TypecheckSettings

if TYPE_CHECKING:
    from airflow_provider_typecheck.jobs.retention import UploadLedger
    from airflow_provider_typecheck.services import Services

router = APIRouter(prefix="/validation", tags=["validation"])

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
    responses=errors(400, *AUTH, 404, 413, 415, 507),
)
def upload_spreadsheet(
    import_name: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    settings: SettingsDep,
    sheet: Annotated[str | None, Query(max_length=255, description="Sheet name or 0-based index (XLSX/XLS).")] = None,
    delimiter: Annotated[str | None, Query(min_length=1, max_length=4, description="CSV delimiter.")] = None,
    schema_version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    header_row: Annotated[str | None, Query(max_length=12, description=(
        "The header's row, counted from 1; 'auto' passes over title and comment lines "
        "(default: the first row that is not blank)."))] = None,
    cell_range: Annotated[str | None, Query(alias="range", max_length=64, description=(
        "Check one table of the sheet: the cells of this range, e.g. A3:F40 (B:D whole columns)."))] = None,
    columns: Annotated[str | None, Query(max_length=65_536, description=(
        "Check only these columns: header names, comma-separated."))] = None,
    strict_header: Annotated[bool, Query(description=(
        "Refuse blank or repeated header names (default: named by column letter, suffixed .1, .2...)."))] = False,
) -> ValidationAccepted:
    """
    Queue a spreadsheet (multipart field ``spreadsheet_file``) for validation against
    ``import_name``'s active schema, or the ``schema_version`` named.

    The file streams to the file store as it arrives and is cut off with a 413 as soon
    as it passes ``TYPECHECK_MAX_UPLOAD_BYTES``, or a 507 as soon as it passes what is
    left of the user's ``TYPECHECK_USER_QUOTA_BYTES``.
    """
    from airflow_provider_typecheck.jobs import JobOptions
    from airflow_provider_typecheck.jobs.filestore import UploadTooLarge

    table = _table_options(header_row, cell_range, columns, strict_header)  # 422 before a byte is read
    schema = services.schemas.active(import_name, schema_version)  # 404 before a byte is read
    room = _quota_room(services.uploads, settings, user)
    # A declared Content-Length past max_upload_bytes was refused already (middleware).
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > room + uploads.FRAMING_ALLOWANCE:
        raise _over_quota(settings)
    try:
        reader = uploads.MultipartFileReader(uploads.chunks_from_loop(request.stream()),
                                             uploads.boundary_of(request.headers.get("content-type")))
        file_name = reader.open()
        uploads.sniff(file_name, reader.head())
        upload = services.files.save_upload(reader, file_name, max_bytes=min(limit, room))  # type: ignore[arg-type]
    except uploads.UnsupportedFile as err:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(err)) from None
    except uploads.BrokenMultipart as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    except uploads.MalformedUpload as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except UploadTooLarge:
        raise (_over_quota(settings) if room < limit else body_too_large(uploads.too_large_detail(limit))) from None
    sheet_option: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    queued = services.publish_validation(
        import_name,
        upload.uri,
        file_name=file_name,
        file_checksum=upload.checksum,
        schema=schema,
        options=JobOptions(sheet=sheet_option, delimiter=delimiter, max_errors=settings.max_errors,
                           write_invalid_rows=True, **table),
        submitted_by=str(user.id),
    )
    services.uploads.record(task_id=queued.task_id, upload_folder=services.files.upload_folder(upload.uri),
                          user_id=str(user.id), size=upload.size)
    return ValidationAccepted(task_id=queued.task_id, import_name=import_name, schema_version=schema.version)


def _table_options(header_row: str | None, cell_range: str | None, columns: str | None,
                   strict_header: bool) -> dict[str, Any]:
    """The table options as a job carries them, checked by the core's own rules (422 when unusable)."""
    from airflow_provider_typecheck.validation.errors import ReadError
    from airflow_provider_typecheck.validation.readers import TableSpec

    try:
        return TableSpec.of(header_row, cell_range, columns, strict_header).as_options()
    except ReadError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None


def _quota_room(ledger: UploadLedger, settings: TypecheckSettings, user: UserPublic) -> int:
    """Bytes the user may still upload (their quota less what their recorded tasks hold)."""
    if not settings.user_quota_bytes:
        return settings.max_upload_bytes
    room = settings.user_quota_bytes - ledger.usage(str(user.id))
    if room <= 0:
        raise _over_quota(settings)
    return room


def _over_quota(settings: TypecheckSettings) -> HTTPException:
    return HTTPException(
        status.HTTP_507_INSUFFICIENT_STORAGE,
        f"this upload would pass your storage quota (TYPECHECK_USER_QUOTA_BYTES, {settings.user_quota_bytes}"
        " bytes); your uploads are freed as their tasks expire",
        headers={"Connection": "close"},
    )


@router.get("/status", responses=errors(*AUTH, 404))
def validation_status(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    task_id: Annotated[str | None, Query(max_length=128)] = None,
    import_name: Annotated[str | None, Query(max_length=128)] = None,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskStatusOut | TaskListOut:
    """
    One task by ``task_id``, or the tasks of an ``import_name``, newest first: a user's
    own tasks, every task for an admin. Another user's task is a 404, as an unknown one.
    """
    if task_id is not None:
        return _status_out(request, _visible_task(services, user, task_id))
    if import_name is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give task_id or import_name")
    submitter = None if user.role == "admin" else str(user.id)
    tasks = services.tasks.for_import(import_name, skip=skip, limit=limit, submitted_by=submitter)
    return TaskListOut(
        data=[_status_out(request, t) for t in tasks],
        count=services.tasks.count_for_import(import_name, submitted_by=submitter),
    )


def _visible_task(services: Services, user: UserPublic, task_id: str) -> TaskStatus:
    """The task if ``user`` may see it; otherwise the very 404 of an unknown task (no oracle)."""
    task = services.results.status(task_id)
    if not task.visible_to(user):
        raise TaskNotFound(f"no task {task_id!r}")
    return task


def _status_out(request: Request, task: TaskStatus) -> TaskStatusOut:
    # The summary holds the first errors: the status never reads the report itself.
    has_report = task.state in (TaskState.VALID, TaskState.INVALID) and task.report_uri is not None
    return TaskStatusOut.of(task, report_uri=_report_path(request, task.task_id) if has_report else None)


def _report_path(request: Request, task_id: str) -> str:
    # Not request.url_for: mounted in Airflow, the request's router is Airflow's, not ours.
    own = request.app.url_path_for("validation_report", task_id=task_id)
    return f"{request.scope.get('root_path', '').rstrip('/')}{own}"


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
    services: ServicesDep,
    format: Literal["json", "csv", "html"] = "json",  # noqa: A002 - the seed's query parameter name
    raw: Annotated[bool, Query(description="csv: the stored rows byte for byte, cells that a spreadsheet "
                                           "program would run as formulas included.")] = False,
) -> Any:
    """The full report of a finished task (its submitter's and admins'; 404 for anyone else);
    ``csv`` is the invalid rows, with every cell starting with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return (a formula to a spreadsheet program; plain numbers excepted)
    prefixed with ``'`` unless ``raw``."""
    task = reports.require_finished(_visible_task(services, user, task_id))
    if format == "csv":
        return reports.invalid_rows_response(services, task_id, raw=raw)
    if format == "json":
        return reports.report_json_response(services, task)
    base = _report_path(request, task_id)
    return reports.report_page_response(services, task, json_url=f"{base}?format=json", csv_url=f"{base}?format=csv")
