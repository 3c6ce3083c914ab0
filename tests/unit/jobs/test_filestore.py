"""The file store on a local folder: uploads streamed with their checksum, the core's rule for local paths."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from airflow_provider_typecheck.jobs.filestore import FileStore, UploadTooLarge, file_checksum, safe_file_name
from airflow_provider_typecheck.validation.locations import local_path


def test_an_upload_keeps_its_bytes_and_their_sha256(tmp_path: Path) -> None:
    payload = b"id,name\n" + b"1,x\n" * 600_000  # several chunks
    upload = FileStore(tmp_path.as_uri()).save_upload(io.BytesIO(payload), "users.csv")

    expected = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert (upload.size, upload.checksum, file_checksum(upload.uri)) == (len(payload), expected, expected)
    assert Path(FileStore.local_path(upload.uri)).read_bytes() == payload


def test_an_upload_past_the_limit_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri())
    with pytest.raises(UploadTooLarge):
        store.save_upload(io.BytesIO(b"x" * 5000), "big.csv", max_bytes=1000)
    assert not any((tmp_path / "uploads").rglob("*.csv*"))


def test_the_file_store_and_the_core_read_local_paths_alike() -> None:
    for uri in ("file:///srv/a b.csv", "data/a.csv", "s3://bucket/a.csv"):
        assert FileStore.local_path(uri) == local_path(uri)


@pytest.mark.parametrize(("name", "safe"), [("../../etc/passwd", "passwd"), ("a b.csv", "a b.csv")])
def test_upload_names_cannot_leave_their_folder(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe
