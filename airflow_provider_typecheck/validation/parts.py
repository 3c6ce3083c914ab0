"""One CSV in parts: byte ranges cut at record ends, validated apart, merged into the report of the whole.

:func:`plan_parts` reads the file once (natively, with its quotes: a line feed inside
a quoted field ends no record) and cuts it into ranges of about ``part_bytes`` that
each begin and end at a record's end, each knowing the row number of its first
record. A range is read by offset (a ranged read on an object store), nothing is
copied, and :func:`~.engine.validate_file` with ``part=`` validates it with the
file's own row numbers. :func:`merge_reports` and :func:`merge_row_files` make the
parts' reports and row files into what one run over the whole file gives.

A file is split only when the cut is sure to fall where a reader of the whole file
sees a record end: a UTF-8 CSV whose quotes open fields and close them, with no
carriage return but before a line feed. Anything else (a workbook, a cell range,
another encoding, a stray quote) is validated whole, as before.

The workers (:mod:`airflow_provider_typecheck.worker`) run the parts as jobs across
the pool; :func:`validate_in_parts` runs them in local processes (``typecheck
validate --jobs N``).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_typecheck.validation.filetypes import CSV_EXTENSIONS
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.locations import local_path
from airflow_provider_typecheck.validation.report import ValidationReport

# Bytes read per call of the native record count.
CHUNK_BYTES = 16 * 1024 * 1024
# The smallest part `validate_in_parts` cuts when asked for N jobs: less is not worth a process.
MIN_LOCAL_PART_BYTES = 4 * 1024 * 1024
# The native count's state between stretches (see records() in _prescan.c).
_FIELD_START, _IN_QUOTES, _CR = 1, 2, 8


@dataclass(frozen=True)
class FilePart:
    """One byte range of a split CSV: ``[start, end)``, whole records, its first one at row ``first_row``."""

    index: int  # 0-based
    count: int  # parts in the plan
    start: int
    end: int
    first_row: int
    rows: int

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count, "start": self.start, "end": self.end,
                "first_row": self.first_row, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FilePart:
        return cls(**{name: int(data[name]) for name in ("index", "count", "start", "end", "first_row", "rows")})

    @property
    def last_row(self) -> int:
        return self.first_row + self.rows - 1

    def describe(self) -> str:
        """``part 3 of 8 (rows 2,000,002-3,000,001)``, for messages."""
        return f"part {self.index + 1} of {self.count} (rows {self.first_row:,}-{self.last_row:,})"


@dataclass(frozen=True)
class PartPlan:
    """How a file is split: its parts in order, its data rows, and its checksum when asked for."""

    parts: list[FilePart]
    total_rows: int
    checksum: str | None = None  # "sha256:<hex>" of the whole file


def plan_parts(
    source: str | os.PathLike[str],
    *,
    part_bytes: int,
    delimiter: str | None = None,
    encoding: str | None = None,
    header_row: int | str | None = None,
    cell_range: str | None = None,
    columns: Sequence[str] | str | None = None,
    strict_header: bool = False,
    checksum: bool = False,
) -> PartPlan | None:
    """Cut a CSV into ranges of about ``part_bytes``; None when it is not split.

    Not split: a file no larger than ``part_bytes`` below its header, a workbook, a
    cell range (its rows end inside the file), a file that is not UTF-8, one whose
    quotes or carriage returns a cut could misplace, or no native scan built. The
    table options are the ones the parts are validated with. ``checksum`` hashes the
    file in the same pass. Raises :class:`ReadError` for a file that cannot be read,
    as validating it would.
    """
    from airflow_provider_typecheck.validation import prescan
    from airflow_provider_typecheck.validation.readers.csv_reader import csv_layout
    from airflow_provider_typecheck.validation.readers.selection import TableSpec
    from airflow_provider_typecheck.validation.readers.sources import check_regular_file

    name = str(source)
    if part_bytes < 1 or cell_range is not None or not prescan.available():
        return None
    if Path(name.split("?")[0]).suffix.lower() not in CSV_EXTENSIONS:
        return None
    local = local_path(name)
    if local is not None:
        check_regular_file(name, local)
    size = file_size(name)
    if size <= part_bytes:
        return None
    layout = csv_layout(name, delimiter, encoding, TableSpec.of(header_row, None, columns, strict_header))
    start = layout.data_start
    if start is None or size - start <= part_bytes:
        return None
    counted = _count_records(name, layout.delimiter, start, size, part_bytes, checksum)
    if counted is None:
        return None
    ends, total_rows, digest = counted
    bounds = sorted({start, *(end for end, _ in ends if end < size), size})
    rows_before = {start: 0, size: total_rows, **dict(ends)}
    count = len(bounds) - 1
    parts = [
        FilePart(index, count, begin, end, layout.first_row + rows_before[begin], rows_before[end] - rows_before[begin])
        for index, (begin, end) in enumerate(zip(bounds, bounds[1:]))
    ]
    return PartPlan(parts, total_rows, digest)


def file_size(name: str) -> int:
    """The size in bytes of a local file or of the object behind an fsspec URI."""
    from airflow_provider_typecheck.validation.readers.sources import opened

    local = local_path(name)
    if local is not None:
        return os.path.getsize(local)
    with opened(name) as handle:
        return handle.size if hasattr(handle, "size") else handle.seek(0, os.SEEK_END)


def _count_records(
    name: str, delimiter: str, start: int, size: int, part_bytes: int, checksum: bool,
) -> tuple[list[tuple[int, int]], int, str | None] | None:
    """One pass over the file: the record end at or after each cut, with the records before it,
    and all the records below the header; None where the count cannot be sure."""
    from airflow_provider_typecheck.validation import _prescan
    from airflow_provider_typecheck.validation.readers.sources import opened

    digest = hashlib.sha256() if checksum else None
    utf8 = codecs.getincrementaldecoder("utf-8")()
    ends: list[tuple[int, int]] = []
    records, state, position, last = 0, _FIELD_START, start, b"\n"
    with opened(name) as handle:
        if digest is not None:
            digest.update(handle.read(start))
        else:
            handle.seek(start)
        cuts = list(range(start + part_bytes, size, part_bytes))
        while chunk := handle.read(CHUNK_BYTES):
            if digest is not None:
                digest.update(chunk)
            if not chunk.isascii():
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    return None
            # The cuts not reached yet: the native count gives the record end of each one it reaches.
            state, found_records, found, problem = _prescan.records(chunk, ord(delimiter), state, position,
                                                                    cuts[len(ends):])
            if problem >= 0:
                return None
            ends.extend((end, records + before) for end, before in found)
            records += found_records
            position += len(chunk)
            last = chunk[-1:]
    try:
        utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if state & (_IN_QUOTES | _CR):
        return None  # ends inside a quoted field or on a bare CR: the whole file's reader says what is wrong
    if last != b"\n":
        records += 1  # the last record has no line end
    return ends, records, f"sha256:{digest.hexdigest()}" if digest is not None else None


def merge_reports(reports: Sequence[ValidationReport], *, max_errors: int) -> ValidationReport:
    """The whole file's report from its parts' reports, in part order.

    Counts add up; the errors are the first ``max_errors`` in row order (each part
    lists its own first ones, in row order); warnings are kept once each, in order.
    ``elapsed_seconds`` is the longest part's: the caller sets the whole run's.
    """
    if not reports:
        raise ValueError("no reports to merge")
    first = reports[0]
    merged = ValidationReport(file=first.file, schema_draft=first.schema_draft, header_row=first.header_row)
    fallback: set[str] = set()
    warnings: dict[str, None] = {}
    for report in reports:
        merged.total_rows += report.total_rows
        merged.invalid_rows += report.invalid_rows
        for column, counts in report.errors_by_column.items():
            into = merged.errors_by_column.setdefault(column, {})
            for keyword, count in counts.items():
                into[keyword] = into.get(keyword, 0) + count
        if len(merged.errors) < max_errors:
            merged.errors.extend(report.errors[:max_errors - len(merged.errors)])
        fallback.update(report.fallback_keywords)
        warnings.update(dict.fromkeys(report.warnings))
        merged.elapsed_seconds = max(merged.elapsed_seconds, report.elapsed_seconds)
    merged.errors_truncated = merged.error_count > len(merged.errors)
    merged.fallback_keywords = sorted(fallback)
    merged.warnings = list(warnings)
    return merged


def merge_row_files(part_files: Sequence[str | os.PathLike[str]], target: str | os.PathLike[str]) -> None:
    """Concatenate the parts' row outputs (CSV or Parquet), in part order, into ``target``.

    Written whole or not at all (see :class:`~.outputs.RowSink`). CSV parts with one
    header are joined as bytes; a part without the ``_extra`` column that another
    has (too-long rows kept their extra fields there) gets it empty, as one run writes it.
    """
    from airflow_provider_typecheck.validation.outputs import RowSink

    sink = RowSink(target)
    try:
        names = [_columns(str(part), sink.format) for part in part_files]
        columns = max(names, key=len, default=[])
        empty = pl.DataFrame(schema={column: pl.Int64 if column == "_row" else pl.String for column in columns})
        if sink.format == "csv" and all(part_columns == columns for part_columns in names):
            header = empty.clear().write_csv().encode()
            for part in part_files:
                sink.append_csv(str(part), header=header)
        else:
            for part in part_files:
                frame = _read_rows(str(part), sink.format)
                missing = [pl.lit(None, dtype=pl.String).alias(column)
                           for column in columns if column not in frame.columns]
                sink.write(frame.with_columns(missing).select(columns))
        sink.close(empty)
    except BaseException:
        sink.discard()
        raise


def _columns(path: str, file_format: str) -> list[str]:
    from airflow_provider_typecheck.validation.readers.sources import opened

    with opened(path) as handle:
        if file_format == "csv":
            return pl.read_csv(handle, n_rows=0, infer_schema=False, raise_if_empty=False).columns
        return list(pl.read_parquet_schema(handle))


def _read_rows(path: str, file_format: str) -> Any:
    from airflow_provider_typecheck.validation.readers.sources import opened

    with opened(path) as handle:
        if file_format == "csv":
            # As text, as written: a CSV row file is joined, never retyped.
            return pl.read_csv(handle, infer_schema=False, raise_if_empty=False)
        return pl.read_parquet(handle)


def validate_in_parts(
    source: str | os.PathLike[str],
    schema: Mapping[str, Any],
    plan: PartPlan,
    *,
    jobs: int,
    max_errors: int = 1000,
    invalid_out: str | os.PathLike[str] | None = None,
    valid_out: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    **read_options: Any,
) -> ValidationReport:
    """Validate the parts of ``plan`` in ``jobs`` local processes, then merge them as the pool does.

    ``read_options`` are :func:`~.engine.validate_file`'s (delimiter, encoding, header_row,
    columns, strict_header, workbook_limits). Row outputs go to part files in a
    local temporary folder, then are merged into each target (a path or an fsspec URI).
    """
    import multiprocessing

    from airflow_provider_typecheck.validation.outputs import check_outputs

    check_outputs(source, valid_out=valid_out, invalid_out=invalid_out)
    with tempfile.TemporaryDirectory(prefix="typecheck-parts-") as folder:
        def part_file(target: str | os.PathLike[str] | None, kind: str, part: FilePart) -> str | None:
            return None if target is None else os.path.join(folder, f"{kind}-{part.index:05d}{Path(str(target)).suffix}")

        # Not fork: Polars' threads do not survive it.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(plan.parts))), mp_context=context) as pool:
            futures = [
                pool.submit(_validate_part, str(source), dict(schema), part, max_errors,
                            part_file(invalid_out, "invalid", part), part_file(valid_out, "valid", part), read_options)
                for part in plan.parts
            ]
            done_rows = 0
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()
                    done_rows += future.result().total_rows
                if progress is not None:
                    progress(done_rows, plan.total_rows)
        reports = [future.result() for future in futures]
        report = merge_reports(reports, max_errors=max_errors)
        for target, kind in ((invalid_out, "invalid"), (valid_out, "valid")):
            if target is not None:
                merge_row_files([part_file(target, kind, part) for part in plan.parts], target)
    return report


def _validate_part(
    source: str, schema: dict[str, Any], part: FilePart, max_errors: int, invalid_out: str | None,
    valid_out: str | None, read_options: dict[str, Any],
) -> ValidationReport:
    from airflow_provider_typecheck.validation.engine import validate_file

    return validate_file(source, schema, part=part, max_errors=max_errors, invalid_out=invalid_out,
                         valid_out=valid_out, **read_options)
