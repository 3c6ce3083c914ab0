"""The tally: exact error counts per (column, keyword), and each invalid row's error labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

ROW_LEVEL = ""  # errors_by_column key for errors on the row itself
RAGGED_KEYWORD = "ragged"

ErrorKey = tuple[str | None, str | None]  # (the error's column or None for the row, its keyword)


def error_key(error: Any) -> ErrorKey:
    """The ``(column, keyword)`` python-jsonschema's error is counted under."""
    return (str(error.path[0]) if error.path else None, error.validator)


def label(column: str | None, keyword: str | None) -> str:
    """An error's label in the invalid rows' ``_errors`` column: ``column:keyword``."""
    return f"{column or ''}:{keyword}"


RAGGED_LABEL = label(None, RAGGED_KEYWORD)


class Tally:
    """Counts errors by label: the label columns' sums, and the rows python-jsonschema checked."""

    def __init__(self) -> None:
        self._label_keys: list[ErrorKey] = []
        self._label_counts: list[int] = []
        self._python_counts: dict[ErrorKey, int] = {}

    def use_labels(self, keys: Sequence[ErrorKey]) -> None:
        """The label columns' keys, in the order :meth:`add_label_sums` gives their sums."""
        self._label_keys = list(keys)
        self._label_counts = [0] * len(keys)

    def add_label_sums(self, sums: Sequence[int | None]) -> None:
        self._label_counts = [c + (s or 0) for c, s in zip(self._label_counts, sums, strict=True)]

    def count_row(self, errors: Iterable[Any], *, ragged: bool = False) -> str:
        """Count one row's python-jsonschema errors; return its labels (``column:keyword; ...``),
        empty when it has none, led by the ragged label when its field count is wrong."""
        keys = [error_key(error) for error in errors]
        for key in keys:
            self._python_counts[key] = self._python_counts.get(key, 0) + 1
        labels = [RAGGED_LABEL] if ragged else []
        labels += [label(column, keyword) for column, keyword in keys]
        return "; ".join(dict.fromkeys(labels))

    def by_column(self, ragged_rows: int) -> dict[str, dict[str, int]]:
        """The report's ``errors_by_column``: counts by column (``""`` for the row), then keyword."""
        counts: dict[str, dict[str, int]] = {}
        for (column, keyword), count in [*zip(self._label_keys, self._label_counts, strict=True),
                                         *self._python_counts.items()]:
            if not count:
                continue
            by_keyword = counts.setdefault(column if column is not None else ROW_LEVEL, {})
            by_keyword[keyword] = by_keyword.get(keyword, 0) + count
        if ragged_rows:
            counts.setdefault(ROW_LEVEL, {})[RAGGED_KEYWORD] = ragged_rows
        return counts
