"""Unit tests of `airflow_provider_typecheck.hooks`."""
