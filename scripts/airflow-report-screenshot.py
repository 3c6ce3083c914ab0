"""Refresh docs/airflow-validation-report.png: the "Validation report" tab of a real Airflow run.

The real-Airflow suite already runs ``typecheck_validate_file`` in Airflow 3.3 (scheduler,
triggerer, dag-processor, api-server, a typecheck worker) and opens the tab in headless
Chromium (Debian's chromium + chromedriver, see scripts/ensure-browser.sh); this runs
that one test with ``TYPECHECK_UPDATE_SCREENSHOT=1`` so it keeps the screenshot in docs/.
Usage: ``.venv/bin/python scripts/airflow-report-screenshot.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    test = "tests/integration/test_real_airflow.py::test_validate_file_dag_defers_to_the_real_triggerer"
    env = {**os.environ, "TYPECHECK_UPDATE_SCREENSHOT": "1"}
    sys.exit(subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, env=env).returncode)
