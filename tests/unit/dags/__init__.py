"""Unit tests of the example DAGs (`dags/`)."""
