"""Provider metadata read by Airflow's ProvidersManager through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_typecheck import __version__


def get_provider_info() -> dict[str, Any]:
    # Declare only what exists; hooks, operators and triggers join as they land.
    return {
        "package-name": "airflow-provider-typecheck",
        "name": "Typecheck",
        "description": "Validate every row and cell of CSV, XLSX and XLS spreadsheets against a JSON Schema.",
        "versions": [__version__],
    }
