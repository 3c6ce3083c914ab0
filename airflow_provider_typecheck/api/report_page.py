"""The HTML report page: one self-contained document (no CDN, no external file).

The data travels as JSON inside the page and a few lines of script draw the chart
as SVG, so the page works on closed networks and prints as it shows. Its
Content-Security-Policy allows exactly the page's own inline script and style (by
their hashes, taken from the template, never from a rendered page that holds
user text), and no other origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Template

    from airflow_provider_typecheck.registry.models import TaskStatus

SHOWN_ERRORS = 100


@lru_cache(maxsize=1)
def _template() -> Template:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("airflow_provider_typecheck.api", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    return environment.get_template("report.html")


def chart_bars(errors_by_column: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One bar per (column, keyword), most errors first; row-level errors are "(row)"."""
    bars = [
        {"column": column or "(row)", "keyword": keyword, "count": count}
        for column, by_keyword in errors_by_column.items()
        for keyword, count in by_keyword.items()
    ]
    return sorted(bars, key=lambda bar: (-bar["count"], bar["column"], str(bar["keyword"])))


# In script data, "<!--" then "<script" stops "</script>" from closing the element; with
# every <, > and & escaped, no cell text can open or close anything (JSON reads them back).
_JSON_IN_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_for_html(value: Any) -> str:
    """``value`` as JSON safe to place inside a ``<script type="application/json">`` element."""
    return json.dumps(value, ensure_ascii=False).translate(_JSON_IN_HTML)


@lru_cache(maxsize=1)
def report_page_policy() -> str:
    """The report page's Content-Security-Policy: its own inline script and style, nothing else."""
    source = _template_source()
    scripts = re.findall(r"<script>(.*?)</script>", source, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", source, re.DOTALL)

    def hashes(blocks: list[str]) -> str:
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src {hashes(scripts)}; style-src {hashes(styles)}; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def report_page_headers() -> dict[str, str]:
    """Headers of a report page response (the API's middleware adds the others)."""
    return {"Content-Security-Policy": report_page_policy()}


def _template_source() -> str:
    environment = _template().environment
    assert environment.loader is not None
    return environment.loader.get_source(environment, "report.html")[0]


def render_report_page(task: TaskStatus, report: dict[str, Any], *, json_url: str, csv_url: str) -> str:
    bars = chart_bars(report.get("errors_by_column") or {})
    chart_json = json_for_html(bars)
    return _template().render(
        task=task,
        report=report,
        errors=(report.get("errors") or [])[:SHOWN_ERRORS],
        error_count=sum(bar["count"] for bar in bars),
        chart_json=chart_json,
        json_url=json_url,
        csv_url=csv_url,
    )
