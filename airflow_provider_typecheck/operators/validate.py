"""Validate a spreadsheet against a JSON Schema: in the task, or on the worker pool while deferred."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from urllib.parse import urlencode
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator, BaseOperatorLink, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_provider_typecheck.metrics import report_to_airflow_stats
from airflow_provider_typecheck.plugins.paths import REPORT_VIEW, TASK_INSTANCE_VIEW
from airflow_provider_typecheck.triggers.validation import ValidationTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_typecheck.registry.results import ErrorSample, ValidationSummary
    from airflow_provider_typecheck.services import Services

OnInvalid = Literal["fail", "warn", "skip"]
Mode = Literal["local", "worker"]
ON_INVALID = ("fail", "warn", "skip")
SCHEMA_STORES = ("mongo", "postgres")
ERRORS_LOGGED = 20
# Long enough, on a loaded machine, for the scheduler to take in a deferring try's exit
# (seen up to 6.4 s after the deferral with a load of 20 on 2 cores).
DEFAULT_MIN_DEFER_SECONDS = 10.0
CHUNK = 1 << 20
# How a row-level error (no column: a missing required field, additionalProperties...)
# is named in logs and XCom counts, as on the report page.
ROW_LEVEL = "(row)"
# The XCom key under which the validation's id is pushed as soon as it exists (before deferring).
VALIDATION_ID_KEY = "validation_id"

def quiet_pika() -> None:
    """Keep pika's connection chatter (7 INFO lines per connection) out of task logs."""
    logging.getLogger("pika").setLevel(logging.WARNING)


def is_template(value: Any) -> bool:
    """Whether ``value`` is a Jinja template still to be rendered (checked again once it is)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class ValidationReportLink(BaseOperatorLink):
    """The "Validation report" button of a task instance: the plugin's report page."""

    name = "Validation report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        base = conf.get("api", "base_url", fallback="").rstrip("/")
        validation_id = getattr(operator, "validation_id", None)
        if validation_id and getattr(operator, "mode", "worker") == "worker":
            return base + REPORT_VIEW.format(task_id=validation_id)
        # Validated in the task: the page reads the counts from this task instance's XCom.
        query = urlencode({"dag_id": ti_key.dag_id, "run_id": ti_key.run_id, "task_id": ti_key.task_id,
                           "map_index": ti_key.map_index})
        return f"{base}{TASK_INSTANCE_VIEW}?{query}"


class SpreadsheetValidateOperator(BaseOperator):
    """
    Validate every row and cell of ``file`` (CSV, XLSX, XLS) against the schema of ``import_name``.

    ``mode="local"`` runs the core in the task itself; with ``schema`` or ``schema_path``
    it needs no service at all, otherwise it reads the active (or ``schema_version``)
    schema from the registry. ``mode="worker"`` hands the file to the ``typecheck worker``
    pool through ``publish_validation`` (the file is named by URI, never sent) and waits,
    deferred by default so the task's worker slot is free, for the result.

    When rows are invalid, ``on_invalid`` decides: ``fail`` (default; the first errors,
    with row, column, keyword and message, go to the task log), ``warn`` (succeed, with a
    warning) or ``skip`` (the task is skipped, and so are its downstream tasks that need
    it). ``max_invalid_ratio`` tolerates up to that share of invalid rows as a pass. A
    validation that could not run (unreadable file, unknown schema) or did not finish
    within ``timeout`` always fails the task; the job is then cancelled.

    Services are reached through Airflow connections: each ``*_conn_id`` left unset, and
    ``schema_store``, default to the ``TYPECHECK_*`` settings (the composition root's
    ``Services`` builds the clients; a ``TYPECHECK_*_URI``, when set, still wins).

    Returns a small XCom, never rows nor the error list: ``{validation_id, mode, state,
    import_name, file, schema_version, file_checksum, total_rows, valid_rows, invalid_rows,
    errors_by_column, report_uri}``. Row-level errors (no column) are counted under
    ``"(row)"``. The validation's id is also pushed under the XCom key ``validation_id``
    as soon as the job is queued.

    :param import_name: the schema registry entry (names the job in worker mode). (templated)
    :param file: a path, any fsspec URI, or an ``ObjectStoragePath``. (templated)
    :param schema_version: the registry version to use; None for the active one. (templated)
    :param schema: a JSON Schema to use instead of the registry (local mode). (templated)
    :param schema_path: a JSON Schema file to use instead of the registry (local mode); empty
        means none. (templated)
    :param mode: ``local`` or ``worker``.
    :param deferrable: wait for the worker in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between status reads while waiting.
    :param min_defer_seconds: the least time a deferral lasts: a quicker result is held in
        the triggerer that long, so Airflow's scheduler has taken in the deferring try's
        exit before the task resumes (Airflow 3.3 may otherwise fail the resumed try,
        apache/airflow#72716). 0 resumes at once.
    :param timeout: seconds (or a timedelta) a worker validation may take; None waits forever. (templated)
    :param on_invalid: ``fail``, ``warn`` or ``skip``. (templated)
    :param max_invalid_ratio: the share of invalid rows (0..1) still taken as a pass. (templated)
    :param invalid_out: where to write the invalid rows (CSV or Parquet by extension, any fsspec URI). (templated)
    :param valid_out: where to write the valid rows. (templated)
    :param max_errors: the most errors a report lists (counts stay exact). (templated)
    :param sheet: the sheet of a workbook: a name, or a 0-based index. (templated)
    :param delimiter: a CSV delimiter, when sniffing is not wanted. (templated)
    :param encoding: the CSV's encoding (a Python codec name such as ``cp1253``); default detected. (templated)
    :param header_row: the header's row, counted from 1 as a spreadsheet does (rows above it
        are skipped), or ``"auto"`` to pass over title and comment lines. (templated)
    :param cell_range: check one table of the sheet, the cells of this range (``"A3:F40"``).
    :param columns: check only these columns (header names; a list or one comma-separated text).
    :param strict_header: refuse blank or repeated header names instead of naming them.
    :param postgres_conn_id: the PostgreSQL connection (schema registry with ``schema_store="postgres"``).
    :param mongo_conn_id: the MongoDB connection (schema registry with ``schema_store="mongo"``).
    :param redis_conn_id: the Redis connection of the task status (worker mode).
    :param rabbitmq_conn_id: the RabbitMQ connection the job is published on (worker mode).
    :param schema_store: ``mongo`` or ``postgres``: where the schema registry lives.
    """

    template_fields: Sequence[str] = (
        "import_name", "file", "schema_version", "schema", "schema_path", "invalid_out", "valid_out",
        "sheet", "delimiter", "encoding", "header_row", "on_invalid", "max_invalid_ratio", "max_errors", "timeout",
    )
    template_fields_renderers = {"schema": "json"}
    operator_extra_links = (ValidationReportLink(),)
    ui_color = "#e3f0fb"

    def __init__(
        self,
        *,
        import_name: str,
        file: Any,
        schema_version: int | str | None = None,
        schema: dict[str, Any] | str | None = None,
        schema_path: str | None = None,
        mode: Mode = "local",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        min_defer_seconds: float = DEFAULT_MIN_DEFER_SECONDS,
        timeout: float | timedelta | str | None = None,
        on_invalid: OnInvalid | str = "fail",
        max_invalid_ratio: float | str | None = None,
        invalid_out: str | None = None,
        valid_out: str | None = None,
        max_errors: int | str = 1000,
        sheet: str | int | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        header_row: int | str | None = None,
        cell_range: str | None = None,
        columns: Sequence[str] | str | None = None,
        strict_header: bool = False,
        postgres_conn_id: str | None = None,
        mongo_conn_id: str | None = None,
        redis_conn_id: str | None = None,
        rabbitmq_conn_id: str | None = None,
        schema_store: Literal["mongo", "postgres"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("local", "worker"):
            raise ValueError(f"mode must be 'local' or 'worker', not {mode!r}")
        if schema is not None and schema_path is not None:
            raise ValueError("give at most one of schema or schema_path")
        if mode == "worker" and (schema is not None or schema_path is not None):
            raise ValueError("worker mode validates against the registry: upload the schema first (SchemaUploadOperator)")
        if schema_store is not None and schema_store not in SCHEMA_STORES:
            raise ValueError(f"schema_store must be 'mongo' or 'postgres', not {schema_store!r}")
        self.import_name = import_name
        self.file = file
        self.schema_version = schema_version
        self.schema = schema
        self.schema_path = schema_path
        self.mode = mode
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.min_defer_seconds = min_defer_seconds
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.on_invalid = on_invalid
        self.max_invalid_ratio = max_invalid_ratio
        self.invalid_out = invalid_out
        self.valid_out = valid_out
        self.max_errors = max_errors
        self.sheet = sheet
        self.delimiter = delimiter
        self.encoding = encoding
        self.header_row = header_row
        self.cell_range = cell_range
        self.columns = columns
        self.strict_header = strict_header
        self.postgres_conn_id = postgres_conn_id
        self.mongo_conn_id = mongo_conn_id
        self.redis_conn_id = redis_conn_id
        self.rabbitmq_conn_id = rabbitmq_conn_id
        self.schema_store = schema_store
        self.validation_id: str | None = None
        self._own_services: Services | None = None
        # Literal values are checked at DAG parse; templated ones once rendered (execute).
        self._check_options()

    # --- options ---------------------------------------------------------------------

    def _check_options(self) -> None:
        """Refuse bad option values; convert rendered text ("0.1", "60", "2") to its type."""
        if not is_template(self.on_invalid) and self.on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be 'fail', 'warn' or 'skip', not {self.on_invalid!r}")
        self.max_invalid_ratio = _number(self.max_invalid_ratio, float, "max_invalid_ratio")
        if isinstance(self.max_invalid_ratio, float) and not 0 <= self.max_invalid_ratio <= 1:
            raise ValueError("max_invalid_ratio must be between 0 and 1")
        self.timeout = _number(self.timeout, float, "timeout")
        if isinstance(self.timeout, float) and self.timeout <= 0:
            raise ValueError("timeout must be positive (or None to wait forever)")
        max_errors = _number(self.max_errors, int, "max_errors")
        if max_errors is None or (isinstance(max_errors, int) and max_errors < 0):
            raise ValueError("max_errors must be 0 or more")
        self.max_errors = max_errors
        if self.header_row != "auto":
            self.header_row = _number(self.header_row, int, "header_row")
        if isinstance(self.header_row, int) and self.header_row < 1:
            raise ValueError("header_row counts from 1")
        if isinstance(self.sheet, str) and self.sheet.isdigit():
            self.sheet = int(self.sheet)  # an index, as the CLI's --sheet takes it
        for name in ("sheet", "delimiter", "encoding", "schema_path", "invalid_out", "valid_out"):
            if getattr(self, name) == "":
                setattr(self, name, None)

    def _services(self) -> Services:
        """The services of the connections this operator names; the process's own when it names none."""
        return services_for(self, ("postgres_conn_id", "mongo_conn_id", "redis_conn_id", "rabbitmq_conn_id",
                                   "schema_store"))

    def _close_services(self) -> None:
        if self._own_services is not None:
            self._own_services.close()
            self._own_services = None

    # --- local -----------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_options()
        try:
            return self._submit(context) if self.mode == "worker" else self._validate_here()
        finally:
            self._close_services()

    def _validate_here(self) -> dict[str, Any]:
        from airflow_provider_typecheck.jobs.filestore import file_checksum
        from airflow_provider_typecheck.registry.results import ValidationSummary
        from airflow_provider_typecheck.validation import compile_schema, validate_file

        uri = str(self.file)
        schema, version = self._local_schema()
        self.validation_id = str(uuid.uuid4())
        self.log.info("Validating %s against %s (version %s) in the task", uri, self.import_name, version)
        services = self._services()
        limits = services.limits  # the settings' limits, as the workers apply them
        started = time.perf_counter()
        compiled = compile_schema(schema, max_bytes=limits.max_schema_bytes, max_depth=limits.max_schema_depth)
        report = validate_file(
            uri, compiled, sheet=self.sheet, delimiter=self.delimiter, max_errors=self.max_errors,
            invalid_out=self.invalid_out, valid_out=self.valid_out, workbook_limits=limits.workbook,
            encoding=self.encoding, **self._table_options(),
        )
        # The full report (error list included) goes where the workers' reports go; XCom stays small.
        report_uri = services.files.write_report(self.validation_id, report.to_dict())
        summary = ValidationSummary.of_report(
            report, file_checksum=file_checksum(uri), schema_version=version, report_uri=report_uri,
            timings={"validate": report.elapsed_seconds, "total": time.perf_counter() - started},
        )
        result = self._result(self.validation_id, summary)
        report_to_airflow_stats(result, report.elapsed_seconds)
        return self._judge(result, summary.first_errors[:ERRORS_LOGGED])

    def _local_schema(self) -> tuple[dict[str, Any], int | None]:
        if self.schema is not None:
            return (json.loads(self.schema) if isinstance(self.schema, str) else self.schema), None
        if self.schema_path is not None:
            import fsspec

            with fsspec.open(self.schema_path, "r", encoding="utf-8-sig") as handle:
                return json.load(handle), None
        active = self._services().schemas.active(self.import_name, version=self._version())
        return active.schema, active.version

    def _table_options(self) -> dict[str, Any]:
        """Which table of the file (range, columns, header row and policy), checked as the core checks them."""
        from airflow_provider_typecheck.validation.readers import TableSpec

        return TableSpec.of(self.header_row, self.cell_range, self.columns, self.strict_header).as_options()

    def _version(self) -> int | None:
        return None if self.schema_version in (None, "", "None") else int(self.schema_version)

    # --- worker ----------------------------------------------------------------------

    def _submit(self, context: Context) -> dict[str, Any]:
        from airflow_provider_typecheck.jobs.contract import JobOptions

        quiet_pika()
        uri = str(self.file)
        services = self._services()
        settings = services.settings
        options = JobOptions(
            sheet=self.sheet, delimiter=self.delimiter, encoding=self.encoding, max_errors=self.max_errors,
            write_invalid_rows=self.invalid_out is not None, write_valid_rows=self.valid_out is not None,
            **self._table_options(),
        )
        self.validation_id = services.publish_validation(
            self.import_name, uri, file_name=uri.rsplit("/", 1)[-1], schema_version=self._version(),
            options=options, submitted_by=f"airflow:{self.dag_id}.{self.task_id}",
            airflow={"dag_id": self.dag_id, "task_id": self.task_id, "run_id": context.get("run_id"),
                     "map_index": getattr(context.get("ti"), "map_index", -1)},
        ).task_id
        self.log.info("Validation %s queued for %s", self.validation_id, uri)
        ti = context.get("ti") if context else None
        if ti is not None:
            # Known while deferred too: the report link and a cleared task find the validation.
            ti.xcom_push(key=VALIDATION_ID_KEY, value=self.validation_id)
        trigger = ValidationTrigger(
            validation_id=self.validation_id, import_name=self.import_name,
            redis_conn_id=settings.redis_conn_id, rabbitmq_conn_id=settings.rabbitmq_conn_id,
            poll_interval=self.poll_interval, timeout=self.timeout, key_prefix=settings.redis_prefix,
            min_defer_seconds=self.min_defer_seconds,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        # Waited for here, no deferral to race with: no hold either.
        trigger.min_defer_seconds = 0
        return self._finish(self._wait_in_task(trigger))

    @staticmethod
    def _wait_in_task(trigger: ValidationTrigger) -> dict[str, Any]:
        """Not deferred: run the trigger's own wait here, in the task, and return its event."""

        async def first_event() -> dict[str, Any]:
            events = trigger.run()
            try:
                return (await anext(events)).payload
            finally:
                await events.aclose()

        return asyncio.run(first_event())

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        self._check_options()
        self.validation_id = event.get("validation_id")
        self.log.info("Resumed after the triggerer's event for validation %s: %s", self.validation_id,
                      event.get("state", event.get("status")))
        try:
            return self._finish(event)
        finally:
            self._close_services()

    def _finish(self, event: dict[str, Any]) -> dict[str, Any]:
        validation_id = event["validation_id"]
        if event["status"] == "timeout":
            self._cancel(f"timed out after {self.timeout:g} s")
            raise AirflowException(event["message"])
        if event["status"] != "finished":
            raise AirflowException(event.get("message", f"validation {validation_id}: {event}"))
        from airflow_provider_typecheck.registry.results import ValidationSummary

        summary = ValidationSummary.model_validate(event["summary"])
        if summary.state == "failed":
            raise AirflowFailException(f"validation {validation_id} failed: {summary.error}")
        self._copy_rows(validation_id, summary.state)
        result = self._result(validation_id, summary)
        report_to_airflow_stats(result, (summary.timings or {}).get("validate"))
        return self._judge(result, summary.first_errors[:ERRORS_LOGGED])

    def _copy_rows(self, validation_id: str, state: str) -> None:
        """Copy the rows the worker wrote into its file store to ``invalid_out`` / ``valid_out``."""
        import fsspec

        store = self._services().files
        wanted = [(self.invalid_out, store.invalid_rows_uri(validation_id)),
                  (self.valid_out, store.valid_rows_uri(validation_id))]
        for target, source in wanted:
            if target is None or not store.exists(source):
                continue
            fs, path = fsspec.core.url_to_fs(target)
            fs.makedirs(fs._parent(path), exist_ok=True)  # as the core does for local mode's outputs
            with fsspec.open(source, "rb") as src, fsspec.open(target, "wb") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
            self.log.info("Rows of validation %s written to %s", validation_id, target)

    def on_kill(self) -> None:
        self._cancel("the Airflow task was killed")

    def _cancel(self, reason: str) -> None:
        if self.mode != "worker" or not self.validation_id:
            return
        self._services().cancel_validation(self.validation_id, reason=reason)
        self.log.info("Validation %s cancelled: %s", self.validation_id, reason)

    # --- verdict ---------------------------------------------------------------------

    def _result(self, validation_id: str, summary: ValidationSummary) -> dict[str, Any]:
        """The XCom: the summary's small part, the same in both modes."""
        return {
            "validation_id": validation_id,
            "mode": self.mode,
            "state": summary.state,
            "import_name": self.import_name,
            "file": str(self.file),
            "schema_version": summary.schema_version,
            "file_checksum": summary.file_checksum,
            "total_rows": summary.total_rows,
            "valid_rows": summary.valid_rows,
            "invalid_rows": summary.invalid_rows,
            "errors_by_column": {column or ROW_LEVEL: counts
                                 for column, counts in (summary.errors_by_column or {}).items()},
            "report_uri": summary.report_uri,
        }

    def _judge(self, result: dict[str, Any], first_errors: list[ErrorSample]) -> dict[str, Any]:
        self._lineage = result
        invalid, total = result["invalid_rows"], result["total_rows"]
        if not invalid:
            self.log.info("All %s rows of %s are valid", total, self.file)
            return result
        for error in first_errors:
            self.log.warning("row %s, %s, %s: %s", error.row, _where(error.column), error.keyword, error.message)
        ratio = invalid / total if total else 1.0
        verdict = f"{invalid} of {total} rows of {self.file} are invalid ({ratio:.2%}); counts: {result['errors_by_column']}"
        if self.max_invalid_ratio is not None and ratio <= self.max_invalid_ratio:
            self.log.warning("%s; tolerated (max_invalid_ratio=%s)", verdict, self.max_invalid_ratio)
            return result
        if self.on_invalid == "warn":
            self.log.warning(verdict)
            return result
        if self.on_invalid == "skip":
            raise AirflowSkipException(verdict)
        raise AirflowFailException(verdict)

    # --- lineage ---------------------------------------------------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The input file with its row count and one assertion per failing column (OpenLineage provider)."""
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import InputDataset
        from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
        from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

        result = getattr(self, "_lineage", None)
        if result is None:
            return OperatorLineage()
        namespace, name = lineage_dataset(str(self.file))
        assertions = [dqa.Assertion(assertion=f"json_schema:{self.import_name}", success=result["invalid_rows"] == 0,
                                    expected="0", actual=str(result["invalid_rows"]))]
        for column, by_keyword in result["errors_by_column"].items():
            for keyword, count in by_keyword.items():
                assertions.append(dqa.Assertion(
                    assertion=str(keyword), success=False, column=None if column == ROW_LEVEL else column,
                    expected="0", actual=str(count),
                ))
        dataset = InputDataset(
            namespace=namespace,
            name=name,
            inputFacets={
                "dataQualityMetrics": dqm.DataQualityMetricsInputDatasetFacet(
                    rowCount=result["total_rows"], columnMetrics={}
                ),
                "dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=assertions),
            },
        )
        return OperatorLineage(inputs=[dataset])


def lineage_dataset(uri: str) -> tuple[str, str]:
    """OpenLineage's (namespace, name) of a file: ``file`` and the path, or ``scheme://bucket`` and the key."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a Windows drive letter is no scheme
        import os

        return "file", os.path.abspath(parts.path if parts.scheme == "file" else uri)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _where(column: str | None) -> str:
    """A column as logs name it: ``column age``, or ``(row)`` for a row-level error."""
    return f"column {column}" if column else ROW_LEVEL


def _number(value: Any, kind: type, name: str) -> Any:
    """A rendered option as ``kind`` (None for empty); a template still to render stays as it is."""
    if value is None or isinstance(value, kind) and not isinstance(value, bool) or is_template(value):
        return value
    if isinstance(value, str) and value.strip() in ("", "None"):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if kind is int and isinstance(value, float) and number != value:
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return number


def services_for(operator: BaseOperator, names: Sequence[str]) -> Services:
    """
    The services of the connection ids (and ``schema_store``) an operator names: the
    process's own (:func:`~airflow_provider_typecheck.services.get_services`) when it names
    none, else its own, built once and kept on the operator until ``_close_services``.
    """
    from airflow_provider_typecheck.services import Services, get_services

    overrides = {name: getattr(operator, name) for name in names if getattr(operator, name) not in (None, "")}
    if not overrides:
        return get_services()
    if operator._own_services is None:
        operator._own_services = Services(**overrides)
    return operator._own_services
