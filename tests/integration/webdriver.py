"""A headless Chromium (Debian's chromium + chromedriver) driven over the W3C WebDriver protocol.

No client library: the protocol is a handful of JSON requests, and these machines reach
only the distribution's mirrors and PyPI. Enough for the tests: open a page, set a
cookie, enter an iframe, read text, take a screenshot.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.integration.api_support import free_port, stop_process

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


class Browser:
    def __init__(self, base: str, session: str) -> None:
        self._client = httpx.Client(base_url=f"{base}/session/{session}", timeout=120)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body if body is not None else ({} if method == "POST" else None))
        payload = response.json()
        if response.status_code >= 400:
            raise RuntimeError(f"webdriver {method} {path}: {payload.get('value')}")
        return payload["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def add_cookie(self, name: str, value: str) -> None:
        self._call("POST", "/cookie", {"cookie": {"name": name, "value": value, "path": "/"}})

    def find(self, css: str) -> str | None:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return found[0][ELEMENT] if found else None

    def enter_frame(self, element: str) -> None:
        self._call("POST", "/frame", {"id": {ELEMENT: element}})

    def leave_frames(self) -> None:
        self._call("POST", "/frame", {"id": None})

    def text(self) -> str:
        return self._call("POST", "/execute/sync", {"script": "return document.body ? document.body.innerText : ''",
                                                    "args": []})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))


@contextmanager
def chromium(log: Path, window: tuple[int, int] = (1400, 1000)) -> Iterator[Browser]:
    """A chromedriver on a free port and one headless session; both ended on exit."""
    port = free_port()
    with open(log, "wb") as out:
        driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    session = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/status", timeout=2).json()["value"]["ready"]:
                    break
            except (httpx.TransportError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise RuntimeError(f"chromedriver did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--window-size={window[0]},{window[1]}", "--no-first-run", "--disable-background-networking"]
        created = httpx.post(f"{base}/session", timeout=120, json={"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}).json()["value"]
        session = created["sessionId"]
        yield Browser(base, session)
    finally:
        if session is not None:
            try:
                httpx.delete(f"{base}/session/{session}", timeout=60)
            except httpx.TransportError:
                pass
        stop_process(driver)
