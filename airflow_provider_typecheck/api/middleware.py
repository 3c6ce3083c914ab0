"""What every response carries and what every request body may weigh.

Both are plain ASGI middleware: they see each chunk as it passes, so a body is
cut off at its cap while it streams (before a parser holds it whole), and a
streamed download is never buffered to add a header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, status

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A login form, a user's fields, a password: kilobytes. Only two routes take more.
SMALL_BODY_BYTES = 64 * 1024

# Pages carry their own policy (the report page names its inline script and style by
# hash); any other HTML gets this one: no script runs, nothing loads; inline styles apply.
DEFAULT_HTML_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                       "frame-ancestors 'self'")
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Airflow's own UI (same origin) may frame the pages; nobody else may.
    (b"x-frame-options", b"SAMEORIGIN"),
)


class SecurityHeaders:
    """``nosniff``, a referrer policy and a frame policy on every response; a
    Content-Security-Policy on HTML responses that set none of their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _ALWAYS if name not in names]
                content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_HTML_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse a request body past its route's cap with a 413, while it streams.

    :param caps: ``(path fragment, bytes, what the 413 says)``, first match wins; other
        bodies get :data:`SMALL_BODY_BYTES`. A ``Content-Length`` past the cap is refused
        before a byte is read; a chunked body as soon as the cap is passed.
    """

    def __init__(self, app: ASGIApp, caps: Callable[[], list[tuple[str, int, str]]]) -> None:
        self.app = app
        self.caps = caps

    def cap_for(self, path: str) -> tuple[int, str]:
        for fragment, limit, detail in self.caps():
            if fragment in path:
                return limit, detail
        return SMALL_BODY_BYTES, f"the request body is larger than this route's limit ({SMALL_BODY_BYTES} bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, detail = self.cap_for(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            from fastapi.responses import JSONResponse

            refused = body_too_large(detail)
            await JSONResponse({"detail": refused.detail}, refused.status_code, refused.headers)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # Raised inside the route's read: the app's handlers turn it into the 413.
                    raise body_too_large(detail)
            return message

        await self.app(scope, bounded_receive, send)


def body_too_large(detail: str) -> HTTPException:
    """A 413 that closes the connection: the client may still be sending, and the rest is not read."""
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail, headers={"Connection": "close"})
