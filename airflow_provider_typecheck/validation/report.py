"""The validation report: exact counts, a capped list of errors that point at cells."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, TextIO

# The report's keys in the order JSON output gives them.
_ORDER = ("file", "header_row", "schema_draft", "total_rows", "valid_rows", "invalid_rows", "errors_by_column",
          "errors", "errors_truncated", "fallback_keywords", "warnings", "elapsed_seconds")
# Errors encoded per chunk while streaming: one write per chunk, not per error.
_CHUNK_ERRORS = 4096


@dataclass(frozen=True)
class CellError:
    """One error python-jsonschema yields for one row, located in the spreadsheet."""

    row: int  # the row number a person sees: the header is row 1
    column: str | None  # None for errors about the row as a whole
    path: str  # JSON pointer of the failing property ("" for the row)
    keyword: str | None  # python-jsonschema's error.validator
    value: str | None  # the cell's text
    message: str  # python-jsonschema's message

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies each field, ten times slower over a million errors.
        return {"row": self.row, "column": self.column, "path": self.path, "keyword": self.keyword,
                "value": self.value, "message": self.message}


@dataclass
class ValidationReport:
    """What a validation found. :meth:`summary` is small JSON, fit for Redis and XCom."""

    file: str | None
    schema_draft: str
    header_row: int | None = None  # the row taken as the header (None for a frame, which has none)
    total_rows: int = 0
    invalid_rows: int = 0
    errors_by_column: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[CellError] = field(default_factory=list)
    errors_truncated: bool = False
    fallback_keywords: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def valid_rows(self) -> int:
        return self.total_rows - self.invalid_rows

    @property
    def is_valid(self) -> bool:
        return self.invalid_rows == 0

    @property
    def error_count(self) -> int:
        return sum(sum(by_keyword.values()) for by_keyword in self.errors_by_column.values())

    def summary(self) -> dict[str, Any]:
        """Everything but the error list."""
        return {
            "file": self.file,
            "header_row": self.header_row,
            "schema_draft": self.schema_draft,
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "invalid_rows": self.invalid_rows,
            "errors_by_column": self.errors_by_column,
            "errors_truncated": self.errors_truncated,
            "fallback_keywords": self.fallback_keywords,
            "warnings": self.warnings,
            "elapsed_seconds": round(self.elapsed_seconds, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """A report from what :meth:`to_dict` wrote (a part's report, read back to be merged)."""
        return cls(
            file=data["file"], schema_draft=data["schema_draft"], header_row=data.get("header_row"),
            total_rows=data["total_rows"], invalid_rows=data["invalid_rows"],
            errors_by_column={column: dict(counts) for column, counts in data["errors_by_column"].items()},
            errors=[CellError(**error) for error in data["errors"]],
            errors_truncated=data["errors_truncated"], fallback_keywords=list(data["fallback_keywords"]),
            warnings=list(data["warnings"]), elapsed_seconds=data.get("elapsed_seconds", 0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        data = self.summary()
        data["errors"] = [error.to_dict() for error in self.errors]
        return {key: data[key] for key in _ORDER}

    def write_json(self, out: TextIO, *, started: float | None = None, ensure_ascii: bool = False) -> None:
        """Write :meth:`to_dict` as JSON, the same text ``json.dump`` gives, with the errors
        encoded and written a chunk at a time: no dict of the whole list is ever built.

        ``started`` (a ``time.perf_counter()`` reading): ``elapsed_seconds``, the last
        key, is then the time since, taken as it is written, so it counts the errors'
        writing too.
        """
        summary = self.summary()
        encode = json.JSONEncoder(ensure_ascii=ensure_ascii).encode
        out.write("{")
        for position, key in enumerate(_ORDER):
            out.write(f"{', ' if position else ''}{encode(key)}: ")
            if key == "elapsed_seconds" and started is not None:
                self.elapsed_seconds = time.perf_counter() - started
                summary[key] = round(self.elapsed_seconds, 6)
            if key != "errors":
                out.write(encode(summary[key]))
                continue
            out.write("[")
            for start in range(0, len(self.errors), _CHUNK_ERRORS):
                chunk = self.errors[start:start + _CHUNK_ERRORS]
                # One encoder call per chunk (C code throughout), its list brackets cut off.
                out.write((", " if start else "") + encode([error.to_dict() for error in chunk])[1:-1])
            out.write("]")
        out.write("}")
