"""The validation report: exact counts, a capped list of errors that point at cells."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
        return asdict(self)


@dataclass
class ValidationReport:
    """What a validation found. :meth:`summary` is small JSON, fit for Redis and XCom."""

    file: str | None
    schema_draft: str
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

    def to_dict(self) -> dict[str, Any]:
        data = self.summary()
        data["errors"] = [error.to_dict() for error in self.errors]
        order = ["file", "schema_draft", "total_rows", "valid_rows", "invalid_rows", "errors_by_column",
                 "errors", "errors_truncated", "fallback_keywords", "warnings", "elapsed_seconds"]
        return {key: data[key] for key in order}
