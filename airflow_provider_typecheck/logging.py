"""Log lines that say what happened, whatever a user named their file.

File names, import names and error messages come from users: a NUL, a newline
or an ANSI escape sequence in them would forge log lines or rewrite a terminal.
:func:`escape_control` writes such characters as visible escapes (``\\x00``,
``\\n``, ``\\x1b``); :func:`install_control_escaping` applies it to the
arguments of every log record the process creates, whatever its handlers and
format (the messages themselves are the code's own text).
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

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
