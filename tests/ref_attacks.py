"""Schemas whose ``$ref`` tries to leave them, and the listeners that would notice.

Each attack aims at a local HTTP listener the test starts (which must receive no
request) or at a secret file the test writes (whose content must appear nowhere).
python-jsonschema switches draft wherever a subschema declares ``$schema``, and
drafts read an ``$id`` beside a ``$ref`` differently: the upload check once
followed the root's draft only, and these slipped through.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"
SECRET = "SECRET-VALUE-FROM-LOCAL-FILE"


@dataclass
class Listener:
    """An HTTP server on 127.0.0.1 that answers every GET with a schema, and counts the requests."""

    port: int
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def http_listener() -> Iterator[Listener]:
    listener = Listener(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            listener.requests.append(self.path)
            body = json.dumps({"enum": ["FETCHED-FROM-THE-LISTENER"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    listener.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SilentListener:
    """A TCP listener that accepts connections and never answers; counts what connected."""

    port: int
    connections: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def silent_listener() -> Iterator[SilentListener]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    listener = SilentListener(sock.getsockname()[1])
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            listener.connections += 1
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        sock.close()


def secret_file(directory: Path) -> Path:
    path = directory / "secret.json"
    path.write_text(json.dumps({"enum": [SECRET]}))
    return path


def escaping_schemas(base_url: str, secret: Path) -> dict[str, dict]:
    """Schemas of one column ``id`` whose references would fetch ``base_url`` or read ``secret``."""
    secret_uri = secret.resolve().as_uri()
    return {
        # A 2020-12 root; a subschema switches to draft 7, which ignores the $id beside $ref
        # when finding resources, while the 2020-12 parent moved the base URI to it.
        "draft-7 subschema, http": {"properties": {"id": {
            "$schema": DRAFT7, "$id": f"{base_url}/x.json", "$ref": "#/definitions/a",
            "definitions": {"a": {"type": "string"}}}}},
        "draft-7 subschema, file": {"properties": {"id": {"$schema": DRAFT7, "$id": secret_uri, "$ref": "#"}}},
        # A draft-7 root, a 2020-12 subschema, and a draft-7 one inside it.
        "draft 7 > 2020-12 > 7, http": {"$schema": DRAFT7, "properties": {"id": {
            "$schema": DRAFT2020, "properties": {"x": {"$schema": DRAFT7, "$id": f"{base_url}/q.json", "$ref": "#"}}}}},
        "plain http": {"properties": {"id": {"$ref": f"{base_url}/id.json"}}},
        "plain file": {"properties": {"id": {"$ref": secret_uri}}},
        "relative to an http $id": {"$id": f"{base_url}/root.json", "properties": {"id": {"$ref": "other.json"}}},
        "a meta-schema": {"properties": {"id": {"$ref": DRAFT2020}}},
    }
