"""Validate spreadsheets against JSON Schema, fast: an Apache Airflow provider."""

from __future__ import annotations

__version__ = "0.1.0"
