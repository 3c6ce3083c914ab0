"""Uploads: what is refused (404, 413 cut off mid-stream, 415, 422) and what fails later with a clear error."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from tests.integration.api_support import USERS_SCHEMA, Api, wait_finished

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]


@pytest.fixture(scope="module")
def ready(api: Api) -> tuple[str, str]:
    token = api.token()
    name = f"uploads_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=api.auth(token)).status_code == 201
    return name, token


def _uploads(api: Api) -> list[Path]:
    root = Path(api.env["TYPECHECK_STORAGE_URI"].removeprefix("file://")) / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    ("file_name", "content", "detail"),
    [
        ("report.pdf", b"%PDF-1.7 ...", "is not a CSV, ODS, TSV, TXT, XLS, XLSB, XLSM or XLSX file (by its extension)"),
        ("users.csv", b"PK\x03\x04 zipped bytes", "is named .csv but its content is binary, not text"),
        ("users.csv", b"name\x00\x01\x02", "is named .csv but its content is binary, not text"),
        ("users.xlsx", b"name,email\nx,y\n", "is named .xlsx but its content is not a xlsx workbook"),
        ("users.xls", b"PK\x03\x04", "is named .xls but its content is not a xls workbook"),
    ],
)
def test_what_is_not_a_spreadsheet_is_415(api: Api, ready: tuple[str, str], file_name: str, content: bytes,
                                          detail: str) -> None:
    name, token = ready
    before = _uploads(api)
    response = api.client.post(f"/validation/upload/{name}", files={"spreadsheet_file": (file_name, content)},
                               headers=api.auth(token))
    assert response.status_code == 415
    assert response.json()["detail"] == f"{file_name!r} {detail}"
    assert _uploads(api) == before


def test_unknown_import_is_404_and_malformed_forms_are_422(api: Api, ready: tuple[str, str]) -> None:
    _, token = ready
    response = api.client.post("/validation/upload/no_such_import", headers=api.auth(token),
                               files={"spreadsheet_file": ("a.csv", b"a\n1\n")})
    assert response.status_code == 404 and "no_such_import" in response.json()["detail"]
    name = ready[0]
    wrong_field = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                                  files={"file": ("a.csv", b"a\n1\n")})
    assert wrong_field.status_code == 422
    assert wrong_field.json()["detail"] == "the form has no 'spreadsheet_file' file part"
    not_multipart = api.client.post(f"/validation/upload/{name}", headers=api.auth(token), content=b"a,b\n")
    assert not_multipart.status_code == 422


def test_an_upload_past_the_limit_is_cut_off_and_leaves_nothing(api: Api, ready: tuple[str, str]) -> None:
    """Without a Content-Length (chunked), the server answers 413 once the limit is passed, not at the end."""
    name, token = ready
    limit = int(api.env["TYPECHECK_MAX_UPLOAD_BYTES"])
    before = _uploads(api)
    host, port = api.base_url.removeprefix("http://").split(":")
    boundary = "tcboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"spreadsheet_file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\nname,email\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (f"POST /api/v1/validation/upload/{name} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
             f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        )
        sent = 0
        row = b"someone,someone@example.com\r\n" * 1000
        body_chunk = head + row
        answer = b""
        sock.settimeout(0.05)
        # Send up to 4x the limit; the answer must come before the body would end.
        while sent < 4 * limit and not answer:
            sock.sendall(f"{len(body_chunk):x}\r\n".encode() + body_chunk + b"\r\n")
            sent += len(body_chunk)
            body_chunk = row
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                pass
        sock.settimeout(30)
        while b"larger than" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert limit < sent < 4 * limit
    assert f"larger than TYPECHECK_MAX_UPLOAD_BYTES ({limit} bytes)".encode() in answer
    assert [p for p in _uploads(api) if p.is_file()] == [p for p in before if p.is_file()]


def test_a_declared_length_past_the_limit_is_refused_before_reading(api: Api, ready: tuple[str, str]) -> None:
    name, token = ready
    limit = int(api.env["TYPECHECK_MAX_UPLOAD_BYTES"])
    response = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                               files={"spreadsheet_file": ("big.csv", b"a\n" + b"1\n" * limit)})
    assert response.status_code == 413
    assert response.json()["detail"] == f"the upload is larger than TYPECHECK_MAX_UPLOAD_BYTES ({limit} bytes)"


def test_a_corrupt_workbook_is_accepted_and_fails_with_a_clear_error(api: Api, ready: tuple[str, str]) -> None:
    name, token = ready
    response = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                               files={"spreadsheet_file": ("users.xlsx", b"PK\x03\x04 but not a workbook")})
    assert response.status_code == 202, response.text
    done = wait_finished(api, token, response.json()["task_id"])
    assert done["state"] == "failed" and done["error"] and "Traceback" not in done["error"]
    assert api.client.get(f"/validation/report/{done['task_id']}", headers=api.auth(token)).status_code == 409
