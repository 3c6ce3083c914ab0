"""Validate a file as soon as a message announcing it lands on RabbitMQ (event-driven scheduling).

An ``AssetWatcher`` runs ``MessageQueueTrigger(scheme="amqp", ...)`` in the triggerer; this
package's AMQP queue provider resolves it to ``RabbitMQEventTrigger``, which consumes the
queue ``typecheck.files`` (declare it and its bindings first) and turns each message into
an asset event. The message is acknowledged only after the event is stored. The event's
payload starts the DAG run; the body names the file:
``{"import_name": "users", "file": "s3://bucket/in/users.csv"}``. Run by hand, the DAG
takes the same fields from its params.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher, Param, dag, task

from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator

FILES_QUEUE = "typecheck.files"

incoming_files = Asset(
    "typecheck_incoming_files",
    watchers=[AssetWatcher(name="typecheck_files_amqp", trigger=MessageQueueTrigger(scheme="amqp", queue_name=FILES_QUEUE))],
)


@dag(
    schedule=[incoming_files],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["typecheck", "example"],
    params={"import_name": Param("users", type="string"), "file": Param("", type="string")},
)
def typecheck_event_driven():
    @task
    def announced_file(params: dict | None = None, triggering_asset_events=None) -> dict:
        for event in (triggering_asset_events or {}).get(incoming_files, []):
            body = event.extra.get("payload", {}).get("body")
            if isinstance(body, dict) and body.get("file"):
                return {"import_name": body.get("import_name", params["import_name"]), "file": body["file"]}
        return {"import_name": params["import_name"], "file": params["file"]}

    announced = announced_file()
    SpreadsheetValidateOperator(
        task_id="validate",
        import_name="{{ ti.xcom_pull(task_ids='announced_file')['import_name'] }}",
        file="{{ ti.xcom_pull(task_ids='announced_file')['file'] }}",
        mode="worker",
        deferrable=True,
        poll_interval=5,
        timeout=3600,
        on_invalid="warn",
    ).set_upstream(announced)


typecheck_event_driven()
