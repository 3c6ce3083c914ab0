"""Row outputs: the valid and the invalid rows, written whole or not at all, never over the input.

Imports Polars only, so the CLI can check its outputs before python-jsonschema loads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_typecheck.validation.errors import OutputError
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.locations import is_remote, local_path

OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _same_place(first: str, second: str) -> bool:
    """Whether two paths or URIs name one file: ``os.path.samefile`` where both exist locally."""
    if is_remote(first) or is_remote(second):
        return first.rstrip("/") == second.rstrip("/")
    first, second = local_path(first) or first, local_path(second) or second
    try:
        return os.path.samefile(first, second)
    except OSError:  # one does not exist (yet): compare where they would be
        return os.path.realpath(first) == os.path.realpath(second)


def _output_format(target: str) -> str:
    suffix = Path((local_path(target) or target).split("?")[0]).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise OutputError(f"{target}: unknown output type {suffix or '(no extension)'!r}; use .csv or .parquet")
    return OUTPUT_FORMATS[suffix]


def check_outputs(
    source: str | os.PathLike[str] | None, *, valid_out: str | os.PathLike[str] | None = None,
    invalid_out: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse row outputs that would overwrite the input or each other, or whose format is unknown.

    Called before the input is opened: writing over a file while it is read
    destroys it (and a mapped file cut short kills the process).
    """
    places = [("the input", str(source))] if source is not None else []
    for what, target in (("the valid rows' output", valid_out), ("the invalid rows' output", invalid_out)):
        if target is None:
            continue
        target = str(target)
        _output_format(target)
        for other, place in places:
            if _same_place(target, place):
                raise OutputError(f"{target}: {what} is {other} ({place}); write it elsewhere")
        places.append((what, target))


class RowSink:
    """Writes rows to CSV or Parquet, a local path or any fsspec URI, as batches arrive.

    Rows go to a temporary name beside the target (``.<name>.<random>.partial``),
    renamed over the target once complete, so a run that fails leaves no output
    that looks finished. On an fsspec URI the temporary object is moved onto the
    target at the end (on object stores a copy then a delete: the target appears
    only when whole). CSV is appended batch by batch; Parquet parts go to a
    temporary folder and are streamed into one file at the end. Nothing holds
    all the rows.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = str(target)
        self.remote = is_remote(self.target)
        local = local_path(self.target) or self.target
        self.format = _output_format(self.target)
        token = os.urandom(4).hex()  # not the secrets module: importing it (hmac, hashlib) costs every start
        self._tmp: str | None = None
        self._parts: list[Path] = []
        try:
            if self.remote:
                import fsspec

                self._fs, path = fsspec.core.url_to_fs(self.target)
                self._final = path
                self._partial = f"{path}.{token}.partial"
            else:
                final = Path(local)
                final.parent.mkdir(parents=True, exist_ok=True)
                self._final = str(final)
                self._partial = str(final.parent / f".{final.name}.{token}.partial")
            # Opened now, so an output that cannot be written is known before the input is read.
            self._handle: Any = self._open(self._partial)
            if self.format == "parquet":
                self._tmp = tempfile.mkdtemp(prefix="typecheck-")
        except ImportError as err:
            raise OutputError(f"{self.target}: writing there needs the package {err.name!r}; install it") from None
        except (OSError, ValueError) as err:
            raise OutputError(f"{self.target}: cannot write: {_reason(err)}") from None

    def _open(self, path: str) -> Any:
        return self._fs.open(path, "wb") if self.remote else open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, frame: pl.DataFrame) -> None:
        try:
            if self.format == "csv":
                frame.write_csv(self._handle, include_header=self._handle.tell() == 0)
            else:
                part = Path(self._tmp) / f"part-{len(self._parts):06d}.parquet"
                frame.write_parquet(part)
                self._parts.append(part)
        except OSError as err:
            raise OutputError(f"{self.target}: cannot write: {_reason(err)}") from None

    def append_csv(self, path: str, *, header: bytes) -> None:
        """Append the rows of a CSV file that begins with ``header``, as bytes (the first file's header too)."""
        from airflow_provider_typecheck.validation.readers.sources import opened

        try:
            with opened(path) as handle:
                if handle.read(len(header)) != header:
                    raise OutputError(f"{path}: its header is not the one of the rows joined to it in {self.target}")
                if self._handle.tell() == 0:
                    self._handle.write(header)
                shutil.copyfileobj(handle, self._handle, 1024 * 1024)
        except OSError as err:
            raise OutputError(f"{self.target}: cannot write: {_reason(err)}") from None

    def discard(self) -> None:
        """Drop what was written: nothing is left at the target or beside it."""
        try:
            self._handle.close()
        except OSError:
            pass
        try:
            if self.remote:
                if self._fs.exists(self._partial):
                    self._fs.rm(self._partial)
            else:
                Path(self._partial).unlink(missing_ok=True)
        except OSError:
            pass
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def close(self, empty: pl.DataFrame) -> None:
        try:
            if self.format == "csv":
                if self._handle.tell() == 0:
                    self.write(empty)
            elif not self.remote:
                self._handle.close()
                if self._parts:
                    pl.scan_parquet(self._parts).sink_parquet(self._partial)
                else:
                    empty.write_parquet(self._partial)
            elif self._parts:
                merged = Path(self._tmp) / "merged.parquet"
                pl.scan_parquet(self._parts).sink_parquet(merged)
                with merged.open("rb") as source:
                    shutil.copyfileobj(source, self._handle)
            else:
                empty.write_parquet(self._handle)
            self._handle.close()
            if self.remote:
                self._fs.mv(self._partial, self._final)
            else:
                os.replace(self._partial, self._final)
        except OSError as err:
            self.discard()
            raise OutputError(f"{self.target}: cannot write: {_reason(err)}") from None
        except BaseException:
            self.discard()
            raise
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _reason(err: OSError | ValueError) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
