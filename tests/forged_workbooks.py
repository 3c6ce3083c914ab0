"""Workbooks whose zip directory lies: small on disk, declared small, inflating to hundreds of MiB.

The archive is written by hand: zipfile would record the true sizes. The
sheet's deflate stream is one compressed block of rows, repeated (a full
flush makes each copy independent), then an empty final block, so a 600 MiB
sheet costs a second to build.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

MiB = 1024 * 1024
SHEET = "xl/worksheets/sheet1.xml"
_ROW = b'<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
_PARTS = {
    "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml"'
    b' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    b'"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet'
    b'+xml"/></Types>',
    "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    b'<sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main"><dimension ref="A1:A2"/><sheetData>'
               b'<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def lying_workbook(path: Path, inflated_bytes: int = 600 * MiB, declared_bytes: int = 1_000) -> Path:
    """An xlsx whose one sheet (column ``id``, every row ``x``) declares ``declared_bytes``
    but inflates to about ``inflated_bytes``; its CRC is the true one. calamine reads it all
    (in 49 s and 2.9 GB for 600 MiB, before the sizes were checked)."""
    block_rows = (8 * MiB) // len(_ROW)
    block = _ROW * block_rows
    copies = max(1, inflated_bytes // len(block))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(_SHEET_HEAD) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(_SHEET_TAIL) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(_SHEET_HEAD)
    for _ in range(copies):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(_SHEET_TAIL, crc)
    compressed_size = len(head) + len(body) * copies + len(tail)

    def sheet_data():
        yield head
        for _ in range(copies):
            yield body
        yield tail

    members = [(name, zlib.crc32(content), _deflate(content), len(content)) for name, content in _PARTS.items()]
    central = b""
    with open(path, "wb") as out:
        for name, member_crc, data, size in [*members, (SHEET, crc, None, declared_bytes)]:
            offset = out.tell()
            length = compressed_size if data is None else len(data)
            out.write(_header(b"PK\x03\x04", name, member_crc, length, size))
            for chunk in sheet_data() if data is None else (data,):
                out.write(chunk)
            central += _header(b"PK\x01\x02", name, member_crc, length, size, offset)
        start = out.tell()
        out.write(central)
        out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(_PARTS) + 1, len(_PARTS) + 1, len(central),
                              start, 0))
    return path


def _deflate(content: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(content) + compressor.flush()


def _header(signature: bytes, name: str, crc: int, compressed: int, size: int, offset: int | None = None) -> bytes:
    encoded = name.encode()
    if offset is None:  # a local header
        return struct.pack("<4sHHHHHIIIHH", signature, 20, 0, 8, 0, 0x21, crc, compressed, size, len(encoded),
                           0) + encoded
    return struct.pack("<4sHHHHHHIIIHHHHHII", signature, 20, 20, 0, 8, 0, 0x21, crc, compressed, size,
                       len(encoded), 0, 0, 0, 0, 0, offset) + encoded


def with_big_sheet(source: Path, target: Path, dimension: str, rows: int, row: bytes = _ROW) -> Path:
    """``source`` (an xlsx) with its sheet replaced by ``rows`` copies of ``row``: honest
    sizes in the zip directory, small on disk, big once inflated."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bomb:
        for part in original.infolist():
            if part.filename != SHEET:
                bomb.writestr(part, original.read(part))
                continue
            with bomb.open(part.filename, "w") as sheet:
                sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
                            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                            + f'<dimension ref="{dimension}"/><sheetData>'.encode())
                chunk = row * 10_000
                for _ in range(rows // 10_000):
                    sheet.write(chunk)
                sheet.write(_SHEET_TAIL)
    return target
