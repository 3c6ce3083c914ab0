"""Unit tests of `airflow_provider_typecheck.validation.engine`."""
