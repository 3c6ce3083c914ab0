"""How a CSV's bytes become UTF-8 text: byte order marks, the caller's codec, or the UTF-8/cp1252 guess and its warning."""

from __future__ import annotations

import codecs

from airflow_provider_typecheck.validation.errors import ReadError

_BYTE_ORDER_MARKS = [  # UTF-32's marks begin with UTF-16's: they come first
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]


def decode_head(name: str, head: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of the file's head and the encoding it is read with (``utf8`` for UTF-8).

    ``encoding`` is the caller's; without it, a UTF-16 or UTF-32 byte order
    mark decides, else UTF-8 if the head decodes, else cp1252, else latin-1.
    """
    if encoding is None:
        encoding = next((codec for mark, codec in _BYTE_ORDER_MARKS if head.startswith(mark)), None)
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise ReadError(f"unknown encoding {encoding!r} (give a Python codec name, e.g. cp1253)") from None
        if codec == "utf-8":
            codec = "utf8"
        try:
            return codecs.getincrementaldecoder(codec if codec != "utf8" else "utf-8-sig")().decode(head), codec
        except UnicodeDecodeError as err:
            line = head.count(b"\n", 0, err.start) + 1
            raise ReadError(f"{name}: not {encoding} text: line {line} holds bytes that cannot be decoded") from None
    if b"\x00" in head:
        raise ReadError(f"{name}: looks like a binary file (NUL bytes), not CSV text; "
                        "if it is text in UTF-16 or UTF-32 without a byte order mark, give its encoding")
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False), "utf8"
    except UnicodeDecodeError:
        pass
    try:
        return head.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return head.decode("latin-1"), "latin-1"


def as_utf8(name: str, raw: bytes, encoding: str, warnings: list[str], guessed: bool = True) -> bytes:
    """The file's bytes as UTF-8.

    With a ``guessed`` encoding, bytes that are not UTF-8 are decoded as cp1252
    (else latin-1), which any legacy file decodes to, rightly or not: the
    warning says so, and how to name the encoding.
    """
    if not guessed or encoding not in ("utf8", "cp1252", "latin-1"):
        codec = "utf-8-sig" if encoding == "utf8" else encoding
        try:
            decoded = raw.decode(codec)
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            raise ReadError(f"{name}: not {encoding} text: line {line} holds bytes that cannot be decoded") from None
        if guessed:
            warnings.append(f"read the file as {encoding.upper()} (it starts with a byte order mark)")
        return decoded.encode("utf-8")
    if encoding == "utf8":
        try:
            raw.decode("utf-8")
            return raw
        except UnicodeDecodeError:
            pass
    try:
        decoded, encoding = raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        decoded, encoding = raw.decode("latin-1"), "latin-1"
    warnings.append(f"the file is not UTF-8; read it as {encoding}, a guess: if its text is Greek, Cyrillic "
                    "or another script, name its encoding (--encoding NAME, e.g. cp1253 or cp1251)")
    return decoded.encode("utf-8")
