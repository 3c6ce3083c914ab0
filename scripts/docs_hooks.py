"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

* The REST API reference page is generated at build time from the app's own OpenAPI
  document (``create_app().openapi()``): it can never drift from the routes.
* The nav lists pages that other branches may not have landed yet: entries whose file
  is missing are dropped, and pages in ``docs/`` that the nav does not list are added
  under "More", so a page is never built unreachable and a missing one never fails
  the strict build. A link to such a planned page is shown as its text until the page
  lands; a link to a page neither present nor planned still fails the build.
* ``::: parameters dotted.path.Class`` in a page becomes the table of that class's
  constructor parameters: the default from its signature, "templated" from its
  ``template_fields``, the text from its ``:param:`` docstring lines. A parameter with
  no ``:param:`` line is a warning, so a strict build fails on it.
* Pages link to repository files outside ``docs/`` (``../benchmarks/RESULTS.md``):
  those files are built into the site too (``repository/...``) and the links rewritten,
  so the links work on the site and on GitHub alike.
"""

from __future__ import annotations

import inspect
import logging
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the hook runs inside mkdocs, whose working folder may be anywhere
    sys.path.insert(0, str(ROOT))

from scripts.openapi_markdown import render_openapi  # noqa: E402

log = logging.getLogger("mkdocs.plugins.typecheck")

API_REFERENCE = "rest-api-reference.md"
REPOSITORY_FOLDER = "repository"
# Pages the nav plans whose file is not there yet (set by on_config).
_planned: set[str] = set()
_PARAMETERS = re.compile(r"^::: parameters ([\w.]+)[ \t]*$", re.MULTILINE)
_PARAM_LINE = re.compile(r"^\s*:param (\w+):\s*(.*)$")
_LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")


def api_reference_markdown() -> str:
    from airflow_provider_typecheck.api import create_app
    from airflow_provider_typecheck.settings import TypecheckSettings

    # Default settings: the reference documents the routes, not one deployment's values.
    return render_openapi(create_app(TypecheckSettings()).openapi())


def _param_docs(docstring: str) -> dict[str, str]:
    """``:param name: text`` of a docstring (continuation lines joined), by name."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in inspect.cleandoc(docstring or "").splitlines():
        match = _PARAM_LINE.match(line)
        if match:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current and line.strip() and not line.lstrip().startswith(":"):
            found[current] += " " + line.strip()
        else:
            current = None
    return found


def _rst_to_markdown(text: str) -> str:
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`").replace("|", "\\|")


def parameters_table(dotted: str, page: str = "") -> str:
    """The Markdown table of the constructor parameters of the class ``dotted``."""
    import importlib

    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    docs = _param_docs(cls.__doc__ or "")
    templated = set(getattr(cls, "template_fields", ()))
    rows = ["| Parameter | Default | Description |", "| --- | --- | --- |"]
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if name not in docs:
            log.warning("%s: %s has no ':param %s:' line in its docstring", page, dotted, name)
        default = "required" if parameter.default is parameter.empty else f"`{parameter.default!r}`"
        description = _rst_to_markdown(docs.get(name, ""))
        if name in templated and "(templated)" not in description:
            description += " (templated)"
        rows.append(f"| `{name}` | {default} | {description} |")
    return "\n".join(rows)


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    return []


def _prune(nav: Any, exists: Any) -> Any:
    """``nav`` without the pages for which ``exists(page)`` is false (and without emptied sections)."""
    if isinstance(nav, str):
        return nav if exists(nav) else None
    if isinstance(nav, dict):
        kept = {title: _prune(value, exists) for title, value in nav.items()}
        kept = {title: value for title, value in kept.items() if value not in (None, [])}
        return kept or None
    kept_items = [_prune(item, exists) for item in nav]
    return [item for item in kept_items if item not in (None, [])]


def on_config(config: Any) -> Any:
    docs = Path(config["docs_dir"])
    generated = {API_REFERENCE}

    def exists(page: str) -> bool:
        return "://" in page or page in generated or (docs / page).is_file()

    planned = {page for page in _nav_pages(config["nav"]) if not exists(page)}
    _planned.clear()
    _planned.update(planned)
    nav = _prune(config["nav"], exists)
    listed = set(_nav_pages(nav))
    unlisted = sorted(
        path.relative_to(docs).as_posix()
        for path in docs.rglob("*.md")
        if path.relative_to(docs).as_posix() not in listed
    )
    if unlisted:
        nav.append({"More": unlisted})
    config["nav"] = nav
    return config


def _repository_links(markdown: str, page_folder: str) -> set[str]:
    """Repository paths (relative to the root) of the local links of a page that leave ``docs/``."""
    found = set()
    for match in _LINK.finditer(markdown):
        target = match.group(2)
        if "://" in target or target.startswith(("mailto:", "/")):
            continue
        path = posixpath.normpath(posixpath.join(page_folder, target))
        if path.startswith("../") and not path.startswith("../../") and (ROOT / path[3:]).is_file():
            found.add(path[3:])
    return found


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, API_REFERENCE, content=api_reference_markdown()))
    # Repository files the pages link to, and the files those link to in turn.
    pending = [
        (file.src_uri, Path(file.abs_src_path).read_text(encoding="utf-8"))
        for file in files.documentation_pages()
        if file.abs_src_path
    ]
    included: set[str] = set()
    while pending:
        src_uri, markdown = pending.pop()
        folder = posixpath.dirname(src_uri)
        if src_uri.startswith(f"{REPOSITORY_FOLDER}/"):
            # A repository file links relative to its own place in the repository.
            folder = posixpath.join("..", posixpath.dirname(src_uri[len(REPOSITORY_FOLDER) + 1 :]))
        for path in _repository_links(markdown, folder) - included:
            included.add(path)
            uri = f"{REPOSITORY_FOLDER}/{path}"
            source = ROOT / path
            if source.suffix == ".md":
                text = source.read_text(encoding="utf-8")
                files.append(File.generated(config, uri, content=text))
                pending.append((uri, text))
            else:
                files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point links that leave ``docs/`` at the copies :func:`on_files` built into the site."""
    src_uri = page.file.src_uri
    markdown = _PARAMETERS.sub(lambda match: parameters_table(match.group(1), src_uri), markdown)
    if src_uri.startswith(f"{REPOSITORY_FOLDER}/"):
        return markdown  # repository pages link within the repository copy already
    folder = posixpath.dirname(src_uri)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("mailto:", "/")):
            return match.group(0)
        path = posixpath.normpath(posixpath.join(folder, target))
        if path in _planned:
            return match.group(0)  # unlinked below, with the link text kept
        if not path.startswith("../") or files.get_file_from_path(f"{REPOSITORY_FOLDER}/{path[3:]}") is None:
            return match.group(0)
        relative = posixpath.relpath(f"{REPOSITORY_FOLDER}/{path[3:]}", folder or ".")
        return f"{match.group(1)}{relative}{match.group(3)}"

    markdown = _LINK.sub(rewrite, markdown)
    return _unlink_planned(markdown, folder)


def _unlink_planned(markdown: str, folder: str) -> str:
    """``[text](planned.md)`` becomes ``text`` while ``planned.md`` has not landed."""
    if not _planned:
        return markdown

    def unlink(match: re.Match[str]) -> str:
        path = posixpath.normpath(posixpath.join(folder, match.group(2)))
        return match.group(1) if path in _planned else match.group(0)

    return re.sub(r"\[([^\]]*)\]\(([^)\s#]+)(?:#[^)\s]*)?\)", unlink, markdown)
