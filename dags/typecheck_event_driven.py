"""Validate every file announced on RabbitMQ (event-driven scheduling), one mapped task per file.

An ``AssetWatcher`` runs ``MessageQueueTrigger(scheme="amqp", ...)`` in the triggerer; this
package's AMQP queue provider resolves it to ``RabbitMQEventTrigger``, which consumes the
queue ``typecheck.files`` (declaring it if missing) and turns each message into an asset
event, acknowledged only once the event is stored. A message announces one file:
``{"import_name": "users", "file": "s3://bucket/in/users.csv"}``.

Airflow batches events: one run may carry many (``triggering_asset_events``), and events
stored while a run is being queued wait for the *next* announcement. So ``claim_files``
takes the run's triggering events and every announced file stored since the earliest of
them that no other run has claimed yet (a Redis claim per event), and ``validate`` maps
over them: each announced file is validated once, and none waits for a later message.
Run by hand, the DAG validates ``params.file`` (when given) plus any unclaimed announcement.
"""

from __future__ import annotations

import logging
from datetime import timedelta

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
    # A try lost to Airflow's deferral race (apache/airflow#72716) is retried.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={"import_name": Param("users", type="string"), "file": Param("", type="string")},
)
def typecheck_event_driven():
    @task(inlets=[incoming_files])
    def claim_files(params=None, triggering_asset_events=None, inlet_events=None, dag_run=None) -> list[dict]:
        from airflow_provider_typecheck.queues.announcements import claim_run_files

        files = claim_run_files(
            asset=incoming_files, triggering_asset_events=triggering_asset_events, inlet_events=inlet_events,
            dag_id=dag_run.dag_id, run_id=dag_run.run_id, default_import_name=params["import_name"],
        )
        if params["file"] and not triggering_asset_events:
            files.insert(0, {"import_name": params["import_name"], "file": params["file"]})
        logging.getLogger(__name__).info("%s file(s) to validate: %s", len(files), [f["file"] for f in files])
        return files

    SpreadsheetValidateOperator.partial(
        task_id="validate",
        mode="worker",
        deferrable=True,
        poll_interval=5,
        timeout=3600,
        on_invalid="warn",
    ).expand_kwargs(claim_files())


typecheck_event_driven()
