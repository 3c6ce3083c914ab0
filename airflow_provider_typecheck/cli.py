"""The ``typecheck`` command: validate a spreadsheet against a JSON Schema.

Exit codes: 0 every row valid, 1 some rows invalid (and nothing else), 2
anything that kept the file from being checked: a usage error, an unreadable
or oversized file or schema, an output that cannot be written, or an internal
error (one line on stderr, never a traceback). Only the validation core is
imported here: Airflow's import costs seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.limits import WorkbookLimits

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2
SHOWN_ERRORS = 20


class _SettingsError(Exception):
    """A ``TYPECHECK_*`` setting the CLI reads is invalid."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its one-line form
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"typecheck: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="typecheck", description="Check every row and cell of a spreadsheet against a JSON Schema.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="validate a CSV, XLSX or XLS file")
    validate.add_argument("file", help="path or fsspec URI of the spreadsheet")
    validate.add_argument("--schema", required=True, help="path of the JSON Schema file")
    validate.add_argument("--sheet", help="sheet name or 0-based index (XLSX/XLS; default: the first)")
    validate.add_argument("--delimiter", help="CSV delimiter (default: sniffed among , ; tab |)")
    _add_reading_options(validate)
    validate.add_argument("--format", choices=["text", "json"], default="text", help="report format")
    validate.add_argument("--max-errors", type=int, default=1000, metavar="N",
                          help="list at most N errors (counts stay exact; default 1000)")
    validate.add_argument("--batch-rows", type=int, metavar="N",
                          help="rows checked at a time; a file over 256 MiB streams in batches of N rows, "
                               "so N bounds memory (default 200000; 1000000 for smaller files)")
    validate.add_argument("--jobs", type=int, default=1, metavar="N",
                          help="validate a big UTF-8 CSV in N processes, cut into N byte ranges at record ends "
                               "and merged into one report (default 1; other files run in one process)")
    validate.add_argument("--valid-out", metavar="PATH", help="write the valid rows to PATH (.csv or .parquet)")
    validate.add_argument("--invalid-out", metavar="PATH",
                          help="write the invalid rows, with _row and _errors columns, to PATH (.csv or .parquet)")

    api = commands.add_parser("api", help="serve the REST API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    api.add_argument("--workers", type=int, default=1, metavar="N", help="server processes (default 1)")
    _add_log_format(api)

    infer = commands.add_parser("infer", help="print a draft JSON Schema inferred from a spreadsheet")
    infer.add_argument("file", help="path or fsspec URI of the spreadsheet")
    infer.add_argument("--sample", type=int, metavar="N", help="look at the first N rows only (default: every row)")
    infer.add_argument("--strict", action="store_true",
                       help="exact observed bounds and lengths, and no columns beyond the header's")
    infer.add_argument("--sheet", help="sheet name or 0-based index (XLSX/XLS)")
    infer.add_argument("--delimiter", help="CSV delimiter (default: sniffed)")
    _add_reading_options(infer)

    worker = commands.add_parser(
        "worker", help="validate the jobs queued on RabbitMQ", epilog=WORKER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="worker processes (spawned; default 1: this process)")
    worker.add_argument("--prefetch", type=int, default=1, metavar="N",
                        help="jobs each process holds and runs at once (default 1)")
    worker.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics (with --concurrency N, "
                             "process i serves PORT+i)")
    _add_log_format(worker)

    sweep = commands.add_parser(
        "sweep", help="delete the uploads and reports of expired tasks (workers also do it periodically)")
    sweep.add_argument("--grace-seconds", type=float, metavar="S",
                       help="keep files changed within the last S seconds "
                            "(default TYPECHECK_SWEEP_GRACE_SECONDS, 3600)")
    sweep.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    declare = commands.add_parser(
        "declare", help="declare the RabbitMQ topology (for brokers provisioned ahead; every user declares it too)")
    declare.add_argument("--files-queue", default=None, metavar="NAME",
                         help="the queue of file announcements event-driven DAGs consume (default typecheck.files)")
    return parser


def _add_log_format(command: argparse.ArgumentParser) -> None:
    command.add_argument("--log-format", choices=["text", "json"], default="text",
                         help="log lines as text or as one JSON object each (default text)")


def _add_reading_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--encoding", metavar="NAME",
                         help="the CSV's encoding, a Python codec name such as cp1253 (default: detected: "
                              "a UTF-16/32 byte order mark, else UTF-8, else cp1252, with a warning)")
    command.add_argument("--header-row", type=_header_row, metavar="N|auto",
                         help="the header is row N, counted from 1 as a spreadsheet does; rows above it "
                              "(titles) are skipped, and reported row numbers stay the file's own; 'auto' "
                              "passes over title rows (one non-empty cell) and '#' comment lines "
                              "(default: the first row that is not blank)")
    command.add_argument("--range", dest="cell_range", metavar="A3:F40",
                         help="check one table of the sheet: the cells of this range (B:D whole columns, 3:40 "
                              "whole rows); its first row is the header unless --header-row says otherwise")
    command.add_argument("--columns", metavar="NAME,...",
                         help="check only these columns (header names, comma-separated)")
    command.add_argument("--strict-header", action="store_true",
                         help="refuse a blank or repeated header name (default: a blank one is named by its "
                              "column letter, a repeat gets a suffix .1, .2..., with a warning)")


def _header_row(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a row number or 'auto', got {text!r}") from None


def _table_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that say which table of the file is read, as ``open_table`` takes them."""
    return {"encoding": args.encoding, "header_row": args.header_row, "cell_range": args.cell_range,
            "columns": args.columns, "strict_header": args.strict_header}


WORKER_EPILOG = """\
connections (Airflow connections; AIRFLOW_CONN_<ID> URIs need no metadata database):
  AIRFLOW_CONN_RABBITMQ_DEFAULT  amqp://user:password@host:5672/vhost (amqps:// for TLS)
  AIRFLOW_CONN_REDIS_DEFAULT     redis://host:6379?db=0  (task status, leases, schema cache)
  AIRFLOW_CONN_POSTGRES_DEFAULT  or AIRFLOW_CONN_MONGO_DEFAULT: the schema registry
  TYPECHECK_RABBITMQ_URI         the same as a URI, instead of the Airflow connection
settings:
  TYPECHECK_RABBITMQ_CONN_ID, TYPECHECK_REDIS_CONN_ID, ... other connection ids
  TYPECHECK_SCHEMA_STORE         mongo | postgres
  TYPECHECK_STORAGE_URI          file store (any fsspec URI; default ~/.local/share/typecheck)
  TYPECHECK_REDIS_PREFIX         Redis key prefix (default typecheck:)
  TYPECHECK_POISON_WORKER_DEATHS worker deaths running one job before it is dead-lettered as poison (3)
  TYPECHECK_DELIVERY_LIMIT       the broker's backstop: deliveries of one job, whatever the cause (20)
  TYPECHECK_WORKER_HEARTBEAT_SECONDS        heartbeat into Redis; alive for 3 beats (1)
  TYPECHECK_WORKER_LEASE_SECONDS            a dead worker's job is taken over after this (30)
  TYPECHECK_WORKER_SHUTDOWN_GRACE_SECONDS   on SIGTERM, finish the job within this, else requeue (60)
  TYPECHECK_WORKER_REDIS_RETRY_SECONDS      retry status writes this long, then requeue (60)
  TYPECHECK_SWEEP_INTERVAL_SECONDS          delete expired tasks' files this often (3600; see `typecheck sweep`)
"""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from airflow_provider_typecheck.validation.errors import TypecheckError

    try:
        if args.command == "api":
            return _api(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "declare":
            return _declare(args)
        return _infer(args)
    except (TypecheckError, _SettingsError) as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        print("typecheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) left: stop quietly, as a killed-by-SIGPIPE process would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ImportError as err:
        # fsspec backends are optional: ``http://`` needs aiohttp, ``s3://`` s3fs.
        return _fail(f"a package this needs is not installed: {err.name or err}")
    except MemoryError:
        return _fail("out of memory; for big files lower --batch-rows")
    except OSError as err:
        return _fail(f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}")
    except Exception as err:  # noqa: BLE001 - exit 1 means invalid rows; anything else is 2, in one line
        return _fail(f"internal error ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                     "please report it")


def _fail(message: str) -> int:
    # One line, whatever the message: some readers' errors span several.
    one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"typecheck: error: {one_line}", file=sys.stderr)
    return EXIT_UNUSABLE


def run() -> None:
    """The ``typecheck`` console script: :func:`main`, then leave at once.

    A validation leaves hundreds of megabytes of frames behind. The operating
    system takes them back in one go; interpreter shutdown would free them
    piece by piece first (0.05-0.2 s of every run). Output is flushed before.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = 141
    os._exit(code)


# Read through the settings class only when set: importing pydantic-settings costs
# 0.2 s of every start, and the defaults are the core's own.
_LIMIT_VARIABLES = (
    "TYPECHECK_MAX_SCHEMA_BYTES", "TYPECHECK_MAX_SCHEMA_DEPTH", "TYPECHECK_MAX_WORKBOOK_UNCOMPRESSED_BYTES",
    "TYPECHECK_MAX_WORKBOOK_CELLS",
)


def _limits() -> tuple[dict[str, int], WorkbookLimits]:
    """The schema limits (``compile_schema`` keywords) and the workbook limits, from the settings."""
    from airflow_provider_typecheck.validation.limits import WorkbookLimits

    if not any(name in os.environ for name in _LIMIT_VARIABLES):
        return {}, WorkbookLimits()
    from pydantic import ValidationError

    from airflow_provider_typecheck.services import get_services

    try:
        limits = get_services().limits
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise _SettingsError(f"setting TYPECHECK_{where.upper()}: {problem['msg']}") from None
    return {"max_bytes": limits.max_schema_bytes, "max_depth": limits.max_schema_depth}, limits.workbook


def _validate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from airflow_provider_typecheck.validation.outputs import check_outputs
    from airflow_provider_typecheck.validation.readers import open_table

    if args.max_errors < 0:
        print("typecheck: error: --max-errors must be 0 or more", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.batch_rows is not None and args.batch_rows < 1:
        print("typecheck: error: --batch-rows must be 1 or more", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.jobs < 1:
        print("typecheck: error: --jobs must be 1 or more", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.delimiter == "\\t":
        args.delimiter = "\t"
    sheet: str | int | None = args.sheet
    if isinstance(sheet, str) and sheet.isdigit():
        sheet = int(sheet)
    schema_limits, workbook_limits = _limits()
    # Before the file is opened: an output over the input would destroy it while it is read.
    check_outputs(args.file, valid_out=args.valid_out, invalid_out=args.invalid_out)
    interactive = args.format == "text" and sys.stderr.isatty()
    # The file is opened while python-jsonschema is imported and the schema checked
    # and compiled: a workbook is read whole there (fastexcel releases the GIL), a
    # CSV has its header and delimiter sniffed (its rows are scanned once the schema
    # is known). A bad schema is still the error reported, whatever the file holds.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="typecheck-read") as pool:
        opening = pool.submit(open_table, args.file, sheet=sheet, delimiter=args.delimiter,
                              batch_rows=args.batch_rows, workbook_limits=workbook_limits,
                              **_table_options(args))
        from airflow_provider_typecheck.validation import compile_schema, read_schema, validate_table

        # Checked once, by compile_schema (load_schema would check it too).
        compiled = compile_schema(read_schema(args.schema, **schema_limits), **schema_limits)
        table = opening.result()
    progress = _ProgressBar(sys.stderr) if interactive else None
    plan = _local_parts(args, table) if args.jobs > 1 else None
    if plan is not None:
        from airflow_provider_typecheck.validation.parts import validate_in_parts

        report = validate_in_parts(args.file, compiled.schema, plan, jobs=args.jobs, max_errors=args.max_errors,
                                   valid_out=args.valid_out, invalid_out=args.invalid_out, progress=progress,
                                   delimiter=args.delimiter, batch_rows=args.batch_rows, **_table_options(args))
    else:
        report = validate_table(table, compiled, max_errors=args.max_errors, valid_out=args.valid_out,
                                invalid_out=args.invalid_out, progress=progress)
    report.elapsed_seconds = time.perf_counter() - started
    if args.format == "json":
        # The whole run, the writing of the errors included: a million of them take seconds.
        report.write_json(sys.stdout, started=started)
        sys.stdout.write("\n")
    else:
        _print_text(report, sys.stdout)
    return EXIT_VALID if report.is_valid else EXIT_INVALID


def _local_parts(args: argparse.Namespace, table: Any) -> Any:
    """The file cut into ``--jobs`` parts (None: it is validated in this process)."""
    from airflow_provider_typecheck.validation.parts import MIN_LOCAL_PART_BYTES, file_size, plan_parts

    if table.csv is None:
        return None
    size = file_size(args.file)
    part_bytes = max(-(-size // args.jobs), MIN_LOCAL_PART_BYTES)
    return plan_parts(args.file, part_bytes=part_bytes, delimiter=table.csv.delimiter, **_table_options(args))


class _ProgressBar:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            filled = int(30 * done / total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} rows")
        else:
            self.stream.write(f"\r{done:,} rows")
        self.stream.flush()
        if total is not None and done >= total:
            self.stream.write("\r" + " " * 60 + "\r")


def _style(text: str, code: str, enabled: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if enabled else text


def _print_text(report: Any, out: TextIO) -> None:
    colour = out.isatty() and "NO_COLOR" not in os.environ
    verdict = (
        _style("VALID", "32;1", colour) if report.is_valid else _style("INVALID", "31;1", colour)
    )
    out.write(
        f"{verdict}  {report.file}: {report.total_rows:,} rows, {report.valid_rows:,} valid, "
        f"{report.invalid_rows:,} invalid  ("
        f"{f'header at row {report.header_row}, ' if report.header_row not in (None, 1) else ''}"
        f"JSON Schema draft {report.schema_draft}, "
        f"{report.elapsed_seconds:.3f} s)\n"
    )
    for warning in report.warnings:
        out.write(_style(f"warning: {warning}\n", "33", colour))
    if report.errors_by_column:
        # A false subschema's errors have no keyword (None) in python-jsonschema.
        rows = [(column or "(row)", str(keyword) if keyword is not None else "(false schema)", count)
                for column, by_keyword in report.errors_by_column.items()
                for keyword, count in sorted(by_keyword.items(), key=lambda item: str(item[0]))]
        width_c = max(len("column"), *(len(r[0]) for r in rows))
        width_k = max(len("keyword"), *(len(r[1]) for r in rows))
        out.write(f"\n{'column':<{width_c}}  {'keyword':<{width_k}}  errors\n")
        out.write(f"{'-' * width_c}  {'-' * width_k}  ------\n")
        for column, keyword, count in rows:
            out.write(f"{column:<{width_c}}  {keyword:<{width_k}}  {count:>6,}\n")
    if report.errors:
        shown = report.errors[:SHOWN_ERRORS]
        out.write(f"\nfirst {len(shown)} error(s):\n")
        for error in shown:
            where = f"row {error.row}" + (f", {error.column}" if error.column is not None else "")
            keyword = error.keyword if error.keyword is not None else "false schema"
            out.write(f"  {_style(where, '1', colour)}: {error.message} [{keyword}]\n")
        remaining = report.error_count - len(shown)
        if remaining > 0:
            out.write(f"  ... and {remaining:,} more (use --format json or --invalid-out for all of them)\n")
    if report.fallback_keywords:
        out.write(f"\nchecked per value by python-jsonschema: {', '.join(report.fallback_keywords)}\n")


def _api(args: argparse.Namespace) -> int:
    if args.workers < 1 or not 0 <= args.port <= 65535:
        print("typecheck: error: --workers must be 1 or more and --port 0 to 65535", file=sys.stderr)
        return EXIT_UNUSABLE
    from pydantic import ValidationError

    from airflow_provider_typecheck.logs import configure_logging
    from airflow_provider_typecheck.registry.errors import RegistryError
    from airflow_provider_typecheck.settings import get_settings

    configure_logging(args.log_format)  # the start-up's own lines (migrations, first admin) too
    # Refuse to start on unusable settings, one line each, before any process is forked:
    # a server that answers 503 to every login is worse than one that does not start.
    try:
        settings = get_settings()
        if settings.jwt_secret is None:
            print("typecheck: error: TYPECHECK_JWT_SECRET is not set (at least 32 bytes)", file=sys.stderr)
            return EXIT_UNUSABLE
        from airflow_provider_typecheck.services import get_services

        try:
            get_services().users.ensure_first_admin(settings)
        except RegistryError:
            raise
        except Exception as err:  # noqa: BLE001 - PostgreSQL unreachable or refusing, in any driver's words
            print(f"typecheck: error: cannot set up users in PostgreSQL: {str(err).splitlines()[0]}",
                  file=sys.stderr)
            return EXIT_UNUSABLE
    except ValidationError as err:
        first = err.errors()[0]
        print(f"typecheck: error: TYPECHECK_{str(first['loc'][0]).upper()}: {first['msg']}", file=sys.stderr)
        return EXIT_UNUSABLE
    except RegistryError as err:
        print(f"typecheck: error: {err.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    import uvicorn

    from airflow_provider_typecheck.logs import uvicorn_log_config

    uvicorn.run(
        "airflow_provider_typecheck.api:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_level="info",
        log_config=uvicorn_log_config(args.log_format),
    )
    return EXIT_VALID


def _infer(args: argparse.Namespace) -> int:
    from airflow_provider_typecheck.validation.infer import infer_schema

    sheet: str | int | None = args.sheet
    if isinstance(sheet, str) and sheet.isdigit():
        sheet = int(sheet)
    if args.sample is not None and args.sample < 1:
        return _fail("--sample must be 1 or more")
    if args.delimiter == "\\t":
        args.delimiter = "\t"
    # Read as `validate` reads it: the same options, limits and warnings.
    _, workbook_limits = _limits()
    warnings: list[str] = []
    try:
        schema = infer_schema(args.file, sample=args.sample, sheet=sheet, delimiter=args.delimiter,
                              strict=args.strict, workbook_limits=workbook_limits, warnings=warnings,
                              **_table_options(args))
    finally:  # before an error too: a warning may say why
        for warning in warnings:
            print(f"typecheck: warning: {warning}", file=sys.stderr)
    json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_VALID


def _worker(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or args.prefetch < 1:
        print("typecheck: error: --concurrency and --prefetch must be 1 or more", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65535 - (args.concurrency - 1):
        print("typecheck: error: --metrics-port must be 1 to 65535 (one port per process)", file=sys.stderr)
        return EXIT_UNUSABLE
    from pydantic import ValidationError

    from airflow_provider_typecheck.services import get_services

    try:
        get_services().amqp_parameters  # noqa: B018 - read now, so a bad setting stops here with exit 2
    except ValidationError as err:
        print(f"typecheck: error: invalid settings: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}",
              file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as err:  # noqa: BLE001 - Airflow's "conn_id isn't defined" and parse errors alike
        print(f"typecheck: error: RabbitMQ connection: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    from airflow_provider_typecheck.worker import run_workers

    return run_workers(args.concurrency, args.prefetch, log_format=args.log_format, metrics_port=args.metrics_port)


def _sweep(args: argparse.Namespace) -> int:
    if args.grace_seconds is not None and args.grace_seconds < 0:
        return _fail("--grace-seconds must be 0 or more")
    from pydantic import ValidationError

    from airflow_provider_typecheck.jobs.retention import sweep
    from airflow_provider_typecheck.services import get_services

    try:
        services = get_services()
    except ValidationError as err:
        first = err.errors()[0]
        return _fail(f"TYPECHECK_{str(first['loc'][0]).upper()}: {first['msg']}")
    grace = services.settings.sweep_grace_seconds if args.grace_seconds is None else args.grace_seconds
    try:
        result = sweep(services.files, services.tasks, grace_seconds=grace, dry_run=args.dry_run)
    except (ImportError, OSError):
        raise
    except Exception as err:  # noqa: BLE001 - Redis unreachable, in its own words: one line, exit 2
        return _fail(f"the sweep could not run: {type(err).__name__}: {err}")
    finally:
        services.close()
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {result.reports} report file(s) and {result.uploads} upload(s) of expired tasks "
          f"({result.bytes} bytes)")
    return EXIT_VALID


def _declare(args: argparse.Namespace) -> int:
    """Declare the jobs' exchanges and queues and the announcements queue; print what exists now."""
    from pika import exceptions

    from airflow_provider_typecheck.jobs.topology import (
        DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, EVENTS_EXCHANGE, EXCHANGE, VALIDATION_QUEUE, declare_topology,
    )
    from airflow_provider_typecheck.queues.files import FILES_QUEUE, declare_files_queue
    from airflow_provider_typecheck.services import get_services

    services = get_services()
    files_queue = args.files_queue or FILES_QUEUE
    try:
        services.rabbitmq_parameters  # noqa: B018 - parse the connection first: its own message
    except Exception as err:  # noqa: BLE001 - Airflow's "conn_id isn't defined" and parse errors alike
        return _fail(f"RabbitMQ connection: {err}")
    try:
        connection = services.rabbitmq_connect()
    except exceptions.AMQPError as err:
        return _fail(f"RabbitMQ is unreachable: {type(err).__name__}: {err}")
    try:
        channel = connection.channel()
        declare_topology(channel, delivery_limit=services.settings.delivery_limit)
        declare_files_queue(channel, files_queue)
    except exceptions.ChannelClosedByBroker as err:
        # 406: a queue exists with other arguments; 403: this user may not configure it.
        return _fail(f"RabbitMQ refused the declaration ({err.reply_code}): {err.reply_text}")
    finally:
        if connection.is_open:
            connection.close()
    for kind, name in (("exchange", EXCHANGE), ("exchange", DEAD_LETTER_EXCHANGE), ("exchange", EVENTS_EXCHANGE),
                       ("queue", VALIDATION_QUEUE), ("queue", DEAD_LETTER_QUEUE), ("queue", files_queue)):
        print(f"declared {kind} {name}")
    return 0


if __name__ == "__main__":
    run()
