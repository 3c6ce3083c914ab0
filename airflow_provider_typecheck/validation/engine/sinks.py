"""The row sinks of one run: the valid rows as read, the invalid ones with their row number and error labels."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence

from airflow_provider_typecheck.validation.engine.planning import LabelColumns
from airflow_provider_typecheck.validation.engine.tally import RAGGED_LABEL, label
from airflow_provider_typecheck.validation.lazy_polars import polars as pl
from airflow_provider_typecheck.validation.outputs import RowSink


class RowOutputs:
    """The valid and invalid rows' files (either may be absent), written batch by batch."""

    def __init__(
        self, header: Sequence[str], invalid_out: str | os.PathLike[str] | None,
        valid_out: str | os.PathLike[str] | None,
    ) -> None:
        self.header = list(header)
        self._extra: dict[int, str] = {}  # a too-long row's fields beyond the header's, as a JSON list
        self._invalid = self._valid = None
        self._invalid = RowSink(invalid_out) if invalid_out else None
        try:
            self._valid = RowSink(valid_out) if valid_out else None
        except BaseException:
            self.abandon()
            raise

    @property
    def active(self) -> bool:
        return self._invalid is not None or self._valid is not None

    def note_extra(self, extra: Mapping[int, Sequence[str]]) -> None:
        """The fields beyond the header's of too-long rows, kept in the invalid rows' ``_extra`` column."""
        self._extra.update({row: json.dumps(list(fields), ensure_ascii=False) for row, fields in extra.items()
                            if fields})

    @property
    def _columns(self) -> list[str]:
        return ["_row", *self.header, *(["_extra"] if self._extra else []), "_errors"]

    def _with_extra(self, rows: pl.DataFrame) -> pl.DataFrame:
        if not self._extra:
            return rows
        return rows.with_columns(pl.col("_row").replace_strict(self._extra, default=None, return_dtype=pl.String)
                                 .alias("_extra"))

    def write_checked(
        self, batch: pl.DataFrame, verdicts: pl.DataFrame, invalid: pl.Series, row_numbers: pl.Series,
        labels: LabelColumns, python_labels: Mapping[int, str], ragged: Collection[int],
    ) -> None:
        """A vectorised batch: ``verdicts`` holds its label columns, ``python_labels`` the labels of
        the rows python-jsonschema checked (by index), ``ragged`` the row numbers of ragged rows."""
        if self._valid:
            self._valid.write(batch.filter(~invalid))
        if not self._invalid:
            return
        numbered = batch.with_columns(row_numbers.alias("_row"))
        texts = [pl.when(fired).then(pl.lit(label(column, keyword)))
                 for fired, (column, keyword) in zip(labels.fired, labels.keys, strict=True)]
        described = verdicts.select(
            pl.concat_str(texts, separator="; ", ignore_nulls=True).alias("_errors")
        ) if texts else pl.DataFrame({"_errors": [None] * batch.height}, schema={"_errors": pl.String})
        if python_labels:
            labels_of_rows = pl.Series([python_labels.get(i) for i in range(batch.height)], dtype=pl.String)
            described = described.with_columns(
                pl.when(pl.int_range(pl.len()).is_in(list(python_labels)))
                .then(pl.lit(labels_of_rows))
                .otherwise(pl.col("_errors"))
                .alias("_errors")
            )
        out = pl.concat([numbered, described], how="horizontal").filter(invalid)
        if ragged:
            out = out.with_columns(
                pl.when(pl.col("_row").is_in(list(ragged)))
                .then(pl.concat_str([pl.lit(RAGGED_LABEL), pl.when(pl.col("_errors") != "").then(pl.col("_errors"))],
                                    separator="; ", ignore_nulls=True))
                .otherwise(pl.col("_errors")).alias("_errors")
            )
        self._invalid.write(self._with_extra(out).select(self._columns))

    def write_listed(
        self, batch: pl.DataFrame, invalid: Sequence[int], row_numbers: Sequence[int], labels: Sequence[str],
    ) -> None:
        """A batch checked row by row: ``invalid`` lists the invalid rows' indexes, ``labels`` their labels."""
        if self._valid:
            self._valid.write(batch.filter(~pl.int_range(batch.height, eager=True).is_in(list(invalid))))
        if self._invalid and invalid:
            rows = batch[list(invalid)].with_columns(
                pl.Series("_row", [row_numbers[i] for i in invalid], dtype=pl.Int64),
                pl.Series("_errors", labels, dtype=pl.String),
            )
            self._invalid.write(self._with_extra(rows).select(self._columns))

    def abandon(self) -> None:
        """Drop what the files hold so far: nothing is left at the targets."""
        for sink in (self._invalid, self._valid):
            if sink is not None:
                sink.discard()

    def close(self) -> None:
        """Put the files in place (an empty file still has its header)."""
        try:
            if self._valid:
                self._valid.close(pl.DataFrame(schema={c: pl.String for c in self.header}))
            if self._invalid:
                self._invalid.close(
                    pl.DataFrame(schema={column: pl.Int64 if column == "_row" else pl.String
                                         for column in self._columns})
                )
        except BaseException:
            self.abandon()
            raise
