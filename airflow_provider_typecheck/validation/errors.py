"""Errors the validation core raises: each one is a clear, user-facing message."""

from __future__ import annotations


class TypecheckError(Exception):
    """Base class: a problem with the caller's input, never a bug.

    The CLI turns these into exit code 2 and a one-line message on stderr;
    the API turns them into a 4xx response.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SchemaError(TypecheckError):
    """The JSON Schema itself is unusable: invalid, not an object, or unsafe.

    ``pointer`` is the JSON pointer of the offending keyword inside the schema
    (``""`` for the root).
    """

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.pointer = pointer

    def __str__(self) -> str:
        where = self.pointer or "/"
        return f"invalid schema at {where}: {self.message}"


class ReadError(TypecheckError):
    """The spreadsheet cannot be read: missing, corrupt, bad header, unknown format."""


class OutputError(TypecheckError):
    """A row output cannot be written: unwritable, of an unknown type, or the input itself."""
