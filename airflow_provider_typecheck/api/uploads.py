"""Reading a spreadsheet upload off the wire, chunk by chunk, into the file store.

Starlette's ``request.form()`` spools a whole multipart body (to memory, then to a
temporary file) before the route sees a byte. Here the body is parsed as it arrives:
only the ``spreadsheet_file`` part's bytes are handed on, in the chunks the client
sent, to :meth:`FileStore.save_upload`, which stops as soon as the limit is passed.

The route runs in a worker thread (a plain ``def``); each chunk is pulled from the
event loop with :func:`anyio.from_thread.run`, so the upload never blocks the loop
and is never held whole anywhere.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Callable

import anyio.from_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from airflow_provider_typecheck.validation.filetypes import CSV_EXTENSIONS, OLE2_EXTENSIONS, SPREADSHEET_EXTENSIONS

FIELD = "spreadsheet_file"
# What the core reads is what an upload may be; here only what its first bytes must be.
EXTENSIONS = {
    extension: "text" if extension in CSV_EXTENSIONS else "ole2" if extension in OLE2_EXTENSIONS else "zip"
    for extension in SPREADSHEET_EXTENSIONS
}
_NAMES = sorted(extension[1:].upper() for extension in SPREADSHEET_EXTENSIONS)
ACCEPTED = f"{', '.join(_NAMES[:-1])} or {_NAMES[-1]}"
SNIFF_BYTES = 8192
# Multipart framing (boundaries, part headers) around the file; a Content-Length past
# the limit plus this cannot hold a file within the limit.
FRAMING_ALLOWANCE = 64 * 1024
# python-multipart refuses a part header past its own bound; the job takes file names of up to 255.
MAX_FILE_NAME_CHARS = 255

_MAGIC = {"zip": b"PK\x03\x04", "ole2": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"}
# Binary formats people upload by mistake; a text file never starts with these.
_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b",
                 b"7z\xbc\xaf", b"Rar!", b"\x7fELF", b"MZ")
_TEXT_CONTROL = set(range(32)) - {9, 10, 12, 13}


class MalformedUpload(ValueError):
    """The body is not multipart/form-data with a ``spreadsheet_file`` part."""


class BrokenMultipart(MalformedUpload):
    """The multipart framing itself is broken or oversized (a 400, where a missing part is a 422)."""


class UnsupportedFile(ValueError):
    """The file is not a spreadsheet by its name or its first bytes."""


def too_large_detail(limit: int) -> str:
    return f"the upload is larger than TYPECHECK_MAX_UPLOAD_BYTES ({limit} bytes)"


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a ``Content-Type`` header; :class:`MalformedUpload` otherwise."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MalformedUpload(f"expected multipart/form-data with a {FIELD!r} file part")
    return boundary


def sniff(file_name: str, head: bytes) -> None:
    """
    Refuse what is not a spreadsheet, by extension and by content alike.

    :raises UnsupportedFile: an unknown extension, or bytes that contradict it.
    """
    extension = os.path.splitext(file_name)[1].lower()
    kind = EXTENSIONS.get(extension)
    if kind is None:
        raise UnsupportedFile(f"{file_name!r} is not a {ACCEPTED} file (by its extension)")
    if kind == "text":
        if head.startswith(_BINARY_MAGIC) or any(byte in _TEXT_CONTROL for byte in head):
            raise UnsupportedFile(f"{file_name!r} is named {extension} but its content is binary, not text")
    elif not head.startswith(_MAGIC[kind]):
        raise UnsupportedFile(f"{file_name!r} is named {extension} but its content is not a {extension[1:]} workbook")


class MultipartFileReader:
    """
    A binary stream of the ``spreadsheet_file`` part of a multipart body.

    :param next_chunk: returns the body's next chunk, or None at its end.
    :param boundary: the body's multipart boundary.
    """

    def __init__(self, next_chunk: Callable[[], bytes | None], boundary: bytes) -> None:
        self._next_chunk = next_chunk
        self._pending: deque[bytes] = deque()
        self._body_done = False
        self._file_started = False
        self._file_done = False
        self._in_file = False
        self.file_name: str | None = None
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    # Parser callbacks: they see slices of the chunk being parsed.
    def _part_begin(self) -> None:
        self._disposition = b""
        self._header_field = self._header_value = b""

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") == FIELD.encode() and not self._file_started:
            file_name = params.get(b"filename", b"upload").decode("utf-8", "replace") or "upload"
            if len(file_name) > MAX_FILE_NAME_CHARS:
                raise BrokenMultipart(f"the file name is longer than {MAX_FILE_NAME_CHARS} characters")
            self._file_started = self._in_file = True
            self.file_name = file_name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and end > start:
            self._pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True

    def _pump(self) -> None:
        chunk = self._next_chunk()
        try:
            if chunk is None:
                self._body_done = True
                self._parser.finalize()
            elif chunk:
                self._parser.write(chunk)
        except MultipartParseError as err:
            raise BrokenMultipart(f"the multipart body is malformed: {err}") from None

    def open(self) -> str:
        """Read up to the file part's headers and return its file name."""
        while not self._file_started and not self._body_done:
            self._pump()
        if not self._file_started:
            raise MalformedUpload(f"the form has no {FIELD!r} file part")
        return self.file_name or "upload"

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the file (fewer at its end; b"" once it is all read)."""
        while not self._pending and not self._file_done and not self._body_done:
            self._pump()
        if not self._pending:
            if not self._file_done:
                raise MalformedUpload(f"the body ended inside the {FIELD!r} part")
            return b""
        chunk = self._pending.popleft()
        if 0 <= size < len(chunk):
            self._pending.appendleft(chunk[size:])
            chunk = chunk[:size]
        return chunk

    def head(self, size: int = SNIFF_BYTES) -> bytes:
        """The file's first ``size`` bytes (fewer if it is shorter), left to be read again."""
        taken: list[bytes] = []
        length = 0
        while length < size:
            chunk = self.read(size - length)
            if not chunk:
                break
            taken.append(chunk)
            length += len(chunk)
        self._pending.extendleft(reversed(taken))
        return b"".join(taken)


def chunks_from_loop(body: AsyncIterator[bytes]) -> Callable[[], bytes | None]:
    """Pull an async body's chunks from a worker thread, one at a time (None at its end)."""

    async def next_chunk() -> bytes | None:
        try:
            return await body.__anext__()
        except StopAsyncIteration:
            return None

    return lambda: anyio.from_thread.run(next_chunk)
