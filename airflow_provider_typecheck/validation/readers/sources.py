"""Where a spreadsheet's bytes come from: a local path or any fsspec URI, opened with failures as ReadError."""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_typecheck.validation.errors import ReadError
from airflow_provider_typecheck.validation.locations import local_path


def check_regular_file(name: str, path: str) -> None:
    """Refuse what is not a regular file: a FIFO or a device would be read forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ReadError(f"{name}: file not found") from None
    except OSError as err:
        raise ReadError(f"{name}: cannot open: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise ReadError(f"{name}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ReadError(f"{name}: not a regular file (a FIFO, device or socket); give the path of a file")


@contextmanager
def opened(name: str) -> Iterator[Any]:
    """The file behind a path or fsspec URI, with the ways opening fails turned into ReadError."""
    try:
        local = local_path(name)
        if local is not None:
            with open(local, "rb") as handle:
                yield handle
            return
        import fsspec  # only for remote URIs: it costs 0.1 s of start-up

        with fsspec.open(name, "rb") as handle:
            yield handle
    except FileNotFoundError:
        raise ReadError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ReadError(f"{name}: is a directory, not a file") from None
    except ImportError as err:  # fsspec backends are optional: http:// needs aiohttp, s3:// s3fs
        raise ReadError(f"{name}: reading it needs a package that is not installed: {err}") from None
    except (OSError, ValueError) as err:
        raise ReadError(f"{name}: cannot open: {err}") from None


def read_bytes(name: str) -> bytes:
    with opened(name) as handle:
        return handle.read()


def read_head(name: str, size: int) -> bytes:
    """The file's first ``size`` bytes (fewer if it is shorter)."""
    with opened(name) as handle:
        return handle.read(size)


def read_range(name: str, start: int, end: int) -> bytes:
    """The bytes ``[start, end)`` of the file, read by offset (a ranged read on an object store)."""
    with opened(name) as handle:
        try:
            handle.seek(start)
            return handle.read(end - start)
        except OSError as err:
            raise ReadError(f"{name}: cannot read bytes {start}-{end}: {err}") from None


def as_bytes(source: bytes | str) -> bytes:
    """The bytes of a local file, or the bytes themselves."""
    if isinstance(source, bytes):
        return source
    with open(source, "rb") as handle:
        return handle.read()


def last_byte(source: bytes | str) -> bytes:
    if isinstance(source, bytes):
        return source[-1:]
    with open(source, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(handle.tell() - 1, 0))
        return handle.read(1)


@contextmanager
def mapped(source: bytes | str) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes without copying them (only files read whole come here)."""
    if isinstance(source, bytes):
        yield source
        return
    with open(source, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data
