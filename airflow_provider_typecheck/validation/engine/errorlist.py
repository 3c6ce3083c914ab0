"""The report's error list: each error's row, column, path, keyword, value and message, capped at ``max_errors``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_typecheck.validation.engine.tally import RAGGED_KEYWORD, error_key
from airflow_provider_typecheck.validation.report import CellError, ValidationReport
from airflow_provider_typecheck.validation.schema import json_pointer


class ErrorList:
    """Appends to ``report.errors`` until it holds ``max_errors``."""

    def __init__(self, report: ValidationReport, max_errors: int, header: Sequence[str]) -> None:
        self.report = report
        self.max_errors = max_errors
        self._positions = {name: position for position, name in enumerate(header)}

    @property
    def room(self) -> int:
        """How many more errors the list takes."""
        return max(self.max_errors - len(self.report.errors), 0)

    def add_ragged(self, row_number: int, message: str) -> None:
        """A row with the wrong number of fields."""
        if self.room:
            self.report.errors.append(CellError(row_number, None, "", RAGGED_KEYWORD, None, message))

    def add(self, row_number: int, texts: Sequence[str | None], errors: Sequence[Any]) -> None:
        """A row's python-jsonschema errors, as far as the cap allows."""
        for error in errors[: self.room]:
            column = error_key(error)[0]
            self.report.errors.append(
                CellError(
                    row=row_number,
                    column=column,
                    path=json_pointer(error.path),
                    keyword=error.validator,
                    value=texts[self._positions[column]] if column in self._positions else None,
                    message=error.message,
                )
            )
