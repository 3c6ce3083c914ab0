"""Run one example DAG with ``dag.test()`` in a fresh process and print its outcome as JSON.

A process of its own, because Airflow reads its home and metadata database at import:
the test gives it an ``AIRFLOW_HOME`` with a migrated SQLite database and ``dags/`` as
the DAGs folder. Usage: ``python dag_run.py DAG_FILE DAG_ID RUN_CONF_JSON``.
"""

from __future__ import annotations

import importlib.util
import json
import sys


def main(dag_file: str, dag_id: str, conf: str) -> None:
    spec = importlib.util.spec_from_file_location(dag_id, dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = getattr(module, dag_id)().test(run_conf=json.loads(conf))
    tasks = {}
    for ti in run.get_task_instances():
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        tasks[name] = {"state": str(ti.state), "xcom": ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)}
    print("DAG_RUN " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": tasks}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
