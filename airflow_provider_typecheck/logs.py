"""Log lines an operator can read and a machine can parse: ``typecheck api`` and ``typecheck worker``.

Text or JSON (one object per line), chosen with ``--log-format``. File names, import
names and error messages come from users: a NUL, a newline or an ANSI escape sequence
in them would forge log lines or rewrite a terminal. :func:`escape_control` is the one
escaping rule: it writes such characters as visible escapes (``\\x00``, ``\\n``,
``\\x1b``); :func:`install_control_escaping` applies it to the arguments of every log
record the process creates, whatever its handlers, and the formatters here escape the
whole message and the JSON fields, so one record is always one line. pika logs at
WARNING: its INFO chatter (some thirty lines per reconnect) says nothing the worker's
own lines do not.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from datetime import datetime, timezone
from typing import Any, Literal

# Cc: C0 and C1 controls, DEL; Cf: format characters such as the bidirectional overrides
# (U+202E) that make a line read otherwise than it is; Zl, Zp: line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_FAMILIAR = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_installed = False


def escape_control(value: object) -> str:
    """``str(value)`` with every control, format or line-separator character written as an escape."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_escaped(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in text)


def _escaped(char: str) -> str:
    if char in _FAMILIAR:
        return _FAMILIAR[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escaped_arg(arg: Any) -> Any:
    return escape_control(arg) if isinstance(arg, (str, BaseException)) else arg


def install_control_escaping() -> None:
    """Escape control characters in the arguments of every log record from now on (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def escaping_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _escaped_arg(arg) for key, arg in record.args.items()}
        return record

    logging.setLogRecordFactory(escaping_record)
    _installed = True


LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    """The usual one-line format, the message's control characters escaped (a traceback stays multi-line)."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_control(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": escape_control(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else escape_control(str(value))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send this process's logs to stderr in ``log_format``; quiet pika down to its warnings."""
    # Airflow sets up its own logging when it is first imported, over whatever was there:
    # the workers and the API import it anyway (hooks, connections), so it comes first here.
    import airflow  # noqa: F401

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pika").setLevel(logging.WARNING)


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers and the app's in ``log_format``, pika at WARNING."""
    formatter_class = f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter_class}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "": {"handlers": ["default"], "level": "INFO"},
            # Airflow's own logging set-up detaches these (no propagation): attach them again.
            "uvicorn": {"level": "INFO", "propagate": True},
            "uvicorn.error": {"level": "INFO", "propagate": True},
            "uvicorn.access": {"level": "INFO", "propagate": True},
            "pika": {"level": "WARNING"},
        },
    }
