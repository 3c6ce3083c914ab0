"""The file store: uploads, reports and row outputs, under one fsspec URI.

Layout under the root (``TYPECHECK_STORAGE_URI``; default ``$XDG_DATA_HOME/typecheck``,
else ``~/.local/share/typecheck``)::

    uploads/<random>/<file name>      an uploaded spreadsheet, streamed in
    reports/<task_id>.json            the full report of a task
    reports/<task_id>.invalid.csv     its invalid rows, when the job asked for them
    reports/<task_id>.valid.csv       its valid rows, when the job asked for them
    reports/<task_id>.part-<i>.json   a split task's part i: its report (and .invalid.csv,
                                      .valid.csv), until the parts are merged

Nothing stays longer than its task: :mod:`.retention` deletes the uploads and reports
of tasks whose status has expired.

A job may also name a file anywhere else its workers can read (``s3://…``, a shared
path): that file is read in place, never copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from airflow_provider_typecheck.registry.errors import InvalidInput, NotFound, RegistryError
from airflow_provider_typecheck.validation.locations import local_path

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

CHUNK_BYTES = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadTooLarge(InvalidInput):
    """An upload went past the byte limit; nothing of it was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the upload is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class StoredUpload:
    """An upload saved in the store."""

    uri: str
    size: int
    checksum: str  # "sha256:<hex>"


def file_checksum(uri: str) -> str:
    """``sha256:<hex>`` of a file's bytes, streamed (a path or any fsspec URI)."""
    import fsspec

    digest = hashlib.sha256()
    with fsspec.open(uri, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


class ReportNotFound(NotFound):
    """No report is stored for that task (not finished, failed before validating, or removed)."""


class FileStoreUnavailable(RegistryError):
    """The store's root cannot be reached or written."""


def default_storage_uri() -> str:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home, "typecheck").as_uri()


class FileStore:
    """
    Files of validation jobs under ``root_uri`` (any fsspec URI).

    :param root_uri: e.g. ``file:///srv/typecheck``, ``s3://bucket/typecheck``.
    :param storage_options: passed to fsspec (credentials, endpoint...).
    """

    def __init__(self, root_uri: str, **storage_options: Any) -> None:
        from fsspec.core import url_to_fs

        self.root_uri = root_uri
        self.fs: AbstractFileSystem
        self.fs, self.root = url_to_fs(root_uri, **storage_options)
        self.root = self.root.rstrip("/")
        self._local = "file" in _protocols(self.fs)

    # --- uploads ----------------------------------------------------------------------

    def save_upload(self, stream: BinaryIO, file_name: str, *, max_bytes: int | None = None) -> StoredUpload:
        """
        Copy ``stream`` into the store in chunks; return the new file's URI, size and sha256
        (computed on the chunks as they pass, so the file is never read again for it).

        :raises UploadTooLarge: past ``max_bytes``; the partial file is removed.
        """
        path = f"{self.root}/uploads/{uuid.uuid4().hex}/{safe_file_name(file_name)}"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        digest = hashlib.sha256()
        written = self._write_stream(path, stream, max_bytes, digest)
        if written is None:
            raise UploadTooLarge(max_bytes or 0)
        return StoredUpload(uri=self.uri(path), size=written, checksum=f"sha256:{digest.hexdigest()}")

    def _write_stream(self, path: str, stream: BinaryIO, max_bytes: int | None, digest: Any) -> int | None:
        # Locally the file appears under its name only when complete; elsewhere object
        # stores make a write visible only when it is closed anyway.
        target = f"{path}.part" if self._local else path
        written = 0
        try:
            with self.fs.open(target, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        break
                    digest.update(chunk)
                    out.write(chunk)
            if max_bytes is not None and written > max_bytes:
                self._remove_quietly(target, path.rsplit("/", 1)[0])
                return None
            if target != path:
                self.fs.mv(target, path)
        except BaseException:
            self._remove_quietly(target, path.rsplit("/", 1)[0])
            raise
        return written

    def _remove_quietly(self, path: str, folder: str) -> None:
        for victim in (path, folder):
            try:
                self.fs.rm(victim, recursive=victim == folder)
            except (FileNotFoundError, OSError):
                pass

    # --- any file by URI --------------------------------------------------------------

    def uri(self, path: str) -> str:
        """The URI of a path in this store's filesystem."""
        return self.fs.unstrip_protocol(path)

    # The core's one rule: a plain path or a file:// URI is local, anything else is read by URI.
    local_path = staticmethod(local_path)

    def open(self, uri: str) -> IO[bytes]:
        import fsspec

        return fsspec.open(uri, "rb").open()

    def exists(self, uri: str) -> bool:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(uri)
        return bool(fs.isfile(path))

    def size(self, uri: str) -> int:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(uri)
        return int(fs.size(path))

    def ping(self) -> None:
        """Check the root can be reached and written (creates it when missing)."""
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            self.fs.ls(self.root, detail=False)
        except Exception as err:
            raise FileStoreUnavailable(f"file store {self.root_uri!r} is unavailable: {err}") from err

    # --- reports ----------------------------------------------------------------------

    def report_uri(self, task_id: str) -> str:
        return self.uri(self._report_path(task_id, ".json"))

    def invalid_rows_uri(self, task_id: str) -> str:
        return self.uri(self._report_path(task_id, ".invalid.csv"))

    def valid_rows_uri(self, task_id: str) -> str:
        return self.uri(self._report_path(task_id, ".valid.csv"))

    def part_report_uri(self, task_id: str, index: int) -> str:
        return self.uri(self._report_path(task_id, f"{_part(index)}.json"))

    def part_invalid_rows_uri(self, task_id: str, index: int) -> str:
        return self.uri(self._report_path(task_id, f"{_part(index)}.invalid.csv"))

    def part_valid_rows_uri(self, task_id: str, index: int) -> str:
        return self.uri(self._report_path(task_id, f"{_part(index)}.valid.csv"))

    def _report_path(self, task_id: str, suffix: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", task_id) or task_id.startswith("."):
            raise InvalidInput(f"invalid task id {task_id!r}")
        return f"{self.root}/reports/{task_id}{suffix}"

    def write_report(self, task_id: str, report: dict[str, Any]) -> str:
        """Store a task's full report (complete or not at all) and return its URI."""
        return self._write_json(self._report_path(task_id, ".json"), report)

    def write_part_report(self, task_id: str, index: int, report: dict[str, Any]) -> str:
        """Store the report of part ``index`` of a split task (complete or not at all)."""
        return self._write_json(self._report_path(task_id, f"{_part(index)}.json"), report)

    def read_part_report(self, task_id: str, index: int) -> dict[str, Any]:
        """:raises ReportNotFound: part ``index`` stored no report."""
        try:
            with self.fs.open(self._report_path(task_id, f"{_part(index)}.json"), "rb") as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise ReportNotFound(f"no report for part {index} of task {task_id!r}") from None

    def delete_parts(self, task_id: str, count: int) -> None:
        """Delete the files parts ``0..count-1`` of a merged task left (gone already is fine)."""
        for index in range(count):
            for suffix in (".json", ".invalid.csv", ".valid.csv"):
                try:
                    self.fs.rm(self._report_path(task_id, f"{_part(index)}{suffix}"))
                except FileNotFoundError:
                    pass

    def _write_json(self, path: str, report: dict[str, Any]) -> str:
        self.fs.makedirs(f"{self.root}/reports", exist_ok=True)
        body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
        target = f"{path}.{uuid.uuid4().hex}.part" if self._local else path
        with self.fs.open(target, "wb") as out:
            out.write(body)
        if target != path:
            self.fs.mv(target, path)
        return self.uri(path)

    def read_report(self, task_id: str) -> dict[str, Any]:
        """:raises ReportNotFound: no report for ``task_id``."""
        path = self._report_path(task_id, ".json")
        try:
            with self.fs.open(path, "rb") as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise ReportNotFound(f"no report for task {task_id!r}") from None

    def prepare_outputs(self) -> None:
        """Create the reports folder, where row outputs are written by the core."""
        self.fs.makedirs(f"{self.root}/reports", exist_ok=True)


    # --- retention: what the sweep lists and deletes -------------------------------------

    def upload_folder(self, uri: str) -> str | None:
        """The name of the ``uploads/<folder>`` holding ``uri``, or None for a file outside them."""
        from fsspec.core import url_to_fs

        try:
            fs, path = url_to_fs(uri)
        except (ValueError, ImportError):
            return None
        if type(fs) is not type(self.fs):
            return None
        inside = f"{self.root}/uploads/"
        if not path.startswith(inside):
            return None
        folder = path[len(inside):].split("/", 1)[0]
        return folder or None

    def stored_uploads(self) -> list[StoredFile]:
        """Every ``uploads/<folder>``: its name, size and last change."""
        return self._listing(f"{self.root}/uploads", folders=True)

    def stored_reports(self) -> list[StoredFile]:
        """Every file under ``reports/``: a task's report and row files (``<task_id>.<suffix>``)."""
        return self._listing(f"{self.root}/reports", folders=False)

    def _listing(self, folder: str, *, folders: bool) -> list[StoredFile]:
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            is_folder = entry.get("type") == "directory"
            if is_folder != folders:
                continue
            path = entry["name"].rstrip("/")
            size = int(self.fs.du(path)) if is_folder else int(entry.get("size") or 0)
            found.append(StoredFile(path.rsplit("/", 1)[-1], path, size, _modified(entry)))
        return found

    def delete(self, stored: StoredFile) -> None:
        """Delete a listed upload folder or report file (gone already is fine)."""
        try:
            self.fs.rm(stored.path, recursive=True)
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class StoredFile:
    name: str  # the upload folder's name, or the report file's
    path: str
    size: int
    modified: float | None  # seconds since the epoch; None when the filesystem does not say


def _modified(entry: dict[str, Any]) -> float | None:
    # Local files say "mtime"; object stores "LastModified" / "last_modified" / "updated".
    for key in ("mtime", "LastModified", "last_modified", "updated"):
        value = entry.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        if isinstance(value, str):
            from datetime import datetime

            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _part(index: int) -> str:
    return f".part-{index:05d}"


def safe_file_name(file_name: str) -> str:
    """The last part of a client's file name, with anything unsafe in a path replaced."""
    base = re.split(r"[/\\]", file_name)[-1].strip()
    cleaned = _UNSAFE.sub("_", base).strip(". ")[:200]
    return cleaned or "upload"


def _protocols(fs: AbstractFileSystem) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)
