"""The HTML report page in a real headless Chromium (Debian's): it renders, and its chart is drawn.

The page is fetched with a token and opened from a file: it must need nothing else
(no CDN, no second request). ``TYPECHECK_UPDATE_SCREENSHOT=1`` also writes the
screenshot to ``docs/report-page.png``, the one the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.api_support import USERS_SCHEMA, Api, wait_finished

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]

CHROMIUM = shutil.which("chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-page.png"
ORDERS = "\n".join(
    ["name,email,age"]
    + [f"user {i},user{i}@example.com,{20 + i % 50}" for i in range(40)]
    + ["Ann,ann@example,31", "Bob,,-2", "Cy,cy@example.com,old", "Dee,dee@example.com,-7", ",x@example.com,3",
       "Eve,eve@example,abc", "Flo,flo@example.com,4.5"]
) + "\n"


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=120, check=True,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/ensure-browser.sh installs it)")
def test_the_report_page_renders_with_its_chart(api: Api, tmp_path: Path) -> None:
    token = api.token()
    name = f"orders_{uuid.uuid4().hex[:8]}"
    assert api.client.post(f"/schemas/upload/{name}", json=USERS_SCHEMA, headers=api.auth(token)).status_code == 201
    task = api.client.post(f"/validation/upload/{name}", headers=api.auth(token),
                           files={"spreadsheet_file": ("orders.csv", ORDERS.encode())}).json()["task_id"]
    status = wait_finished(api, token, task)
    assert status["state"] == "invalid"
    page = api.client.get(f"/validation/report/{task}", params={"format": "html"}, headers=api.auth(token))
    html_file = tmp_path / "report.html"
    html_file.write_text(page.text)

    dom = _chromium(tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom", html_file.as_uri()).stdout
    dom = dom.decode()
    bars = re.findall(r'<rect class="bar"[^>]*data-column="([^"]*)" data-keyword="([^"]*)" data-count="(\d+)"', dom)
    expected = {(column or "(row)", keyword, count) for column, by_keyword in
                status["summary"]["errors_by_column"].items() for keyword, count in by_keyword.items()}
    assert {(c, k, int(n)) for c, k, n in bars} == expected
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', dom)]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1] > 0
    assert 'id="verdict">INVALID<' in dom and 'id="invalid-rows">6<' in dom
    assert dom.count("<tr>") == 1 + len(status["errors"]) == 8

    screenshot = tmp_path / "report.png"
    _chromium(tmp_path / "profile-shot", "--window-size=1100,900", "--hide-scrollbars",
              f"--screenshot={screenshot}", html_file.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    if os.environ.get("TYPECHECK_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
