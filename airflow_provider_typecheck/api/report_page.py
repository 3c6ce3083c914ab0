"""The HTML report page: one self-contained document (no CDN, no external file).

The data travels as JSON inside the page and a few lines of script draw the chart
as SVG, so the page works on closed networks and prints as it shows.
"""

from __future__ import annotations

import json
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


def render_report_page(task: TaskStatus, report: dict[str, Any], *, json_url: str, csv_url: str) -> str:
    bars = chart_bars(report.get("errors_by_column") or {})
    # "</" is escaped so no cell text can close the script element that carries it.
    chart_json = json.dumps(bars, ensure_ascii=False).replace("</", "<\\/")
    return _template().render(
        task=task,
        report=report,
        errors=(report.get("errors") or [])[:SHOWN_ERRORS],
        error_count=sum(bar["count"] for bar in bars),
        chart_json=chart_json,
        json_url=json_url,
        csv_url=csv_url,
    )
