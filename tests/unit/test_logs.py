"""Log lines: one record is one line, whatever its message carries; JSON lines parse."""

from __future__ import annotations

import json
import logging

from airflow_provider_typecheck.logs import JsonFormatter, TextFormatter, configure_logging, escape_control


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("typecheck.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_control_characters_are_escaped_and_text_is_kept() -> None:
    assert escape_control("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert escape_control("\x1b[2J\x00\x7f\x85") == "\\x1b[2J\\x00\\x7f\\x85"
    assert escape_control("line\u2028sep") == "line\\u2028sep"
    assert escape_control("Zoë, 東京, 👍") == "Zoë, 東京, 👍"


def test_a_forged_second_line_stays_on_the_first() -> None:
    forged = "orders.csv\n2026-01-01 00:00:00 MainProcess INFO x: task 1: valid"
    assert "\n" not in TextFormatter().format(_record("validating %s", forged))
    assert "\n" not in JsonFormatter().format(_record("validating %s", forged))


def test_json_lines_carry_the_record_and_its_extra_fields() -> None:
    line = JsonFormatter().format(_record("job %s: state=%s", "t1", "valid", task_id="t1", rows=5, state="valid\x1b"))
    entry = json.loads(line)
    assert entry["message"] == "job t1: state=valid" and entry["level"] == "INFO"
    assert (entry["task_id"], entry["rows"], entry["state"]) == ("t1", 5, "valid\\x1b")
    assert entry["logger"] == "typecheck.test" and entry["time"].endswith("+00:00")


def test_pika_says_only_its_warnings() -> None:
    root, pika = logging.getLogger(), logging.getLogger("pika")
    saved = (list(root.handlers), root.level, pika.level)
    try:
        configure_logging("json")
        assert not logging.getLogger("pika.connection").isEnabledFor(logging.INFO)
        assert logging.getLogger("pika.connection").isEnabledFor(logging.WARNING)
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:  # pytest's own capture handlers live on the root logger
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        pika.setLevel(saved[2])


def test_uvicorns_access_lines_are_json_with_json_format() -> None:
    import logging.config

    from airflow_provider_typecheck.logs import uvicorn_log_config

    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = (list(root.handlers), root.level)
    try:
        logging.config.dictConfig(uvicorn_log_config("json"))
        record = access.makeRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", "/metrics\n", "1.1", 200), None)
        line = root.handlers[0].format(record)
        assert json.loads(line)["message"] == '127.0.0.1:5000 - "GET /metrics\\n HTTP/1.1" 200'
        assert not logging.getLogger("pika").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("pika").setLevel(logging.NOTSET)
