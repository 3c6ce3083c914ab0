"""The job message carries the table options (range, columns, header row, header policy) to the worker."""

from __future__ import annotations

import pytest

from airflow_provider_typecheck.jobs import JobOptions


def test_the_job_message_carries_the_table_options() -> None:
    options = JobOptions(header_row="auto", cell_range="E3:F9", columns=("sku", "stock"), strict_header=True)
    assert JobOptions.model_validate_json(options.model_dump_json()) == options
    assert JobOptions(header_row=3).header_row == 3
    with pytest.raises(ValueError):
        JobOptions(header_row=0)
