"""Screenshot the "Validation report" tab of a task instance in a real Airflow UI (docs/).

Runs ``typecheck_validate_file`` with ``dag.test()`` against the local PostgreSQL, Redis
and RabbitMQ and a real worker, starts ``airflow api-server`` (every user an admin) and
has headless Chromium (Debian's) photograph the task instance's plugin tab. Everything it
creates (a vhost, a PostgreSQL schema, Redis keys under its prefix, a temp folder) is
removed at the end. Usage: ``.venv/bin/python scripts/airflow-report-screenshot.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "airflow-validation-report.png"


def main() -> None:
    token = uuid.uuid4().hex[:10]
    work = Path(tempfile.mkdtemp(prefix="typecheck-shot-"))
    vhost, prefix, pg_schema = f"typecheck_shot_{token}", f"typecheck-shot:{token}:", f"typecheck_shot_{token}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW_CONN_RABBITMQ_DEFAULT": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "AIRFLOW_CONN_REDIS_DEFAULT": "redis://127.0.0.1:6379",
        "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgresql://postgres@127.0.0.1:5432/postgres",
        "TYPECHECK_SCHEMA_STORE": "postgres", "TYPECHECK_POSTGRES_SCHEMA": pg_schema,
        "TYPECHECK_REDIS_PREFIX": prefix, "TYPECHECK_STORAGE_URI": (work / "store").as_uri(), "PYTHONPATH": str(ROOT),
    }
    data = work / "users.csv"
    shutil.copy(ROOT / "examples" / "users.csv", data)
    processes = []
    try:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        processes.append(subprocess.Popen([sys.executable, "-m", "airflow_provider_typecheck.cli", "worker"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        conf = {"import_name": "users", "path": str(data), "schema_path": str(ROOT / "examples/users.schema.json"),
                "quarantine": str(work / "quarantine.csv")}
        done = subprocess.run([sys.executable, str(ROOT / "tests/integration/dag_run.py"),
                               str(ROOT / "dags/typecheck_validate_file.py"), "typecheck_validate_file", json.dumps(conf)],
                              env=env, capture_output=True, text=True, check=True)
        run_id = json.loads(done.stdout.split("DAG_RUN ", 1)[1])["run_id"]
        processes.append(subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--port", "28793"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(240):
            try:
                urllib.request.urlopen("http://127.0.0.1:28793/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        url = (f"http://127.0.0.1:28793/dags/typecheck_validate_file/runs/{urllib.request.quote(run_id, safe='')}"
               "/tasks/validate/plugin/typecheck-report")
        OUT.parent.mkdir(exist_ok=True)
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1400,1000", "--virtual-time-budget=20000", f"--screenshot={OUT}", url],
                       check=True, capture_output=True, timeout=120)
        print(f"{OUT} from {url}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE'],
                       check=False, capture_output=True)
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379")
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
