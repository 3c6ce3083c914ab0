"""The validation core stands alone: no Airflow, no web framework, no service client."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_airflow_or_services() -> None:
    code = (
        "import sys; import airflow_provider_typecheck.validation, airflow_provider_typecheck.cli; "
        "print(sorted(m for m in ('airflow', 'fastapi', 'pika', 'redis', 'pymongo', 'psycopg2', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
