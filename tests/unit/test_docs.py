"""The documentation site: it builds with warnings as errors, offline, and says what the code does.

The strict build is the CI check of the docs (``make test`` runs pytest); the other tests
hold the pages to the code: every ``TYPECHECK_*`` setting documented with its real default
and the components that read it, the REST API reference generated from the app itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_typecheck.settings import TypecheckSettings

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"CLI", "worker", "api", "Airflow tasks", "triggerer", "api-server"}
_ROW = re.compile(r"^\| `(TYPECHECK_[A-Z0-9_]+)` \|(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # No TYPECHECK_* from the caller's shell: the reference documents the defaults.
    env = {key: value for key, value in env.items() if not key.startswith("TYPECHECK_")}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-6000:]
    return out


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("index", "installation", "connections", "configuration", "airflow", "rest-api",
                 "rest-api-reference", "cli", "howto/spreadsheet-validate-operator", "howto/plugin"):
        assert (site / f"{page}.html").is_file(), page
    # The pictures the pages show, and the repository files they link to.
    assert (site / "report-page.png").is_file()
    assert (site / "repository" / "benchmarks" / "RESULTS.md").exists() or \
        (site / "repository" / "benchmarks" / "RESULTS.html").is_file()


def test_the_site_loads_nothing_from_another_origin(site: Path) -> None:
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    offenders = {
        (str(page.relative_to(site)), match.group(0))
        for page in site.rglob("*.html")
        for match in external.finditer(page.read_text(encoding="utf-8"))
        if 'rel="canonical"' not in match.group(0)  # a name for search engines, never fetched
    }
    assert offenders == set()


def test_the_api_reference_lists_every_route_of_the_app(site: Path) -> None:
    from airflow_provider_typecheck.api import create_app

    document = create_app(TypecheckSettings()).openapi()
    page = (site / "rest-api-reference.html").read_text(encoding="utf-8")
    for path, item in document["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in page, (method, path)
    for model in document["components"]["schemas"]:
        assert f'id="model-{model.lower()}"' in page, model


def _documented_settings() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return {name: [cell.strip() for cell in rest.strip().strip("|").split(" | ")] for name, rest in _ROW.findall(text)}


def _default_text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        return f'`{value}`' if value else '`""`'
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default_and_components() -> None:
    documented = _documented_settings()
    problems = []
    for name, field in TypecheckSettings.model_fields.items():
        variable = f"TYPECHECK_{name.upper()}"
        if variable not in documented:
            problems.append(f"{variable} is not in docs/configuration.md")
            continue
        cells = documented[variable]
        if len(cells) < 3:
            problems.append(f"{variable}: the row needs Default | Needed by | Meaning")
            continue
        default, needed_by = cells[0], cells[1]
        if not default.startswith(_default_text(field.default)):
            problems.append(f"{variable}: documented default {default!r}, real {field.default!r}")
        # A component may carry a remark: "CLI (`typecheck sweep`)".
        components = {re.sub(r"\s*\(.*\)$", "", part).strip() for part in needed_by.split(",")}
        if not components or not components <= COMPONENTS:
            problems.append(f"{variable}: Needed by {needed_by!r} is not a list of {sorted(COMPONENTS)}")
    stale = set(documented) - {f"TYPECHECK_{name.upper()}" for name in TypecheckSettings.model_fields}
    problems += [f"{variable} is documented but is no setting" for variable in sorted(stale)]
    assert problems == []


def test_provider_info_points_at_the_documentation() -> None:
    from airflow_provider_typecheck.get_provider_info import get_provider_info

    assert get_provider_info()["documentation-url"].startswith("https://")


def test_the_nav_drops_pages_not_landed_and_lists_every_page(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from scripts.docs_hooks import _unlink_planned, on_config
    finally:
        sys.path.remove(str(ROOT))
    (tmp_path / "index.md").write_text("# Home\n")
    (tmp_path / "extra.md").write_text("# Extra\n")
    nav = [{"Home": "index.md"}, {"Later": [{"Ops": "operations.md"}]}, {"Reference": "rest-api-reference.md"}]
    config = on_config({"docs_dir": str(tmp_path), "nav": nav})
    assert config["nav"] == [{"Home": "index.md"}, {"Reference": "rest-api-reference.md"}, {"More": ["extra.md"]}]
    # A link to the planned page shows its text until the page lands; other links stay.
    text = "See [operations](operations.md#metrics) and [home](index.md)."
    assert _unlink_planned(text, "") == "See operations and [home](index.md)."


def test_the_package_metadata_names_the_same_documentation() -> None:
    """Airflow 3.3 replaces ``documentation-url`` with the distribution's Project-URL "Documentation"."""
    import tomllib

    from airflow_provider_typecheck.get_provider_info import DOCUMENTATION_URL

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["urls"]["Documentation"] == DOCUMENTATION_URL


def test_the_readme_links_to_pages_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in target}
    assert {"docs/index.md", "docs/howto/plugin.md"} <= targets
    assert sorted(target for target in targets if target and not (ROOT / target).exists()) == []
