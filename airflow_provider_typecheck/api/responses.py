"""The error responses routes declare, so OpenAPI documents every status a client may get."""

from __future__ import annotations

from typing import Any

from airflow_provider_typecheck.api.models import ErrorBody


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code with the JSON error body and what it means."""
    return {code: {"model": ErrorBody, "description": _MEANING[code]} for code in codes}


_MEANING = {
    400: "The request could not be read (broken multipart framing, or the client left mid-upload).",
    401: "Missing, malformed, forged or expired token, or a user since deactivated or deleted.",
    403: "The user's role does not allow this.",
    404: "No such thing.",
    409: "Conflicts with what is stored.",
    413: "The body is larger than this route's limit (an upload: TYPECHECK_MAX_UPLOAD_BYTES; a schema: "
         "TYPECHECK_MAX_SCHEMA_BYTES).",
    415: "Not a CSV, TSV, XLSX or XLS file.",
    429: "Too many failed logins: wait the seconds in Retry-After.",
    503: "A backing service is unavailable or not configured.",
    507: "The upload would pass the user's storage quota (TYPECHECK_USER_QUOTA_BYTES).",
}

AUTH = (401, 503)
ADMIN = (401, 403, 503)
