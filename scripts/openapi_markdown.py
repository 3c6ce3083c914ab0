"""Render an OpenAPI 3.1 document (FastAPI's ``app.openapi()``) as one Markdown page.

Used by the docs build (``scripts/docs_hooks.py``) for the REST API reference; run it
alone to print the page: ``python scripts/openapi_markdown.py > api.md``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/schemas/"


def _anchor(model: str) -> str:
    return f"model-{model.lower()}"


def _cell(text: Any) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|") if text not in (None, "") else ""


def schema_type(schema: dict[str, Any]) -> str:
    """A short Markdown description of a JSON Schema's type, models linked."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF_PREFIX)
        return f"[{name}](#{_anchor(name)})"
    for combinator, joiner in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return joiner.join(schema_type(part) for part in schema[combinator])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(schema_type({**schema, "type": one}) for one in kind)
    if kind == "array":
        return f"array of {schema_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {schema_type(schema['additionalProperties'])}"
    text = kind or "any"
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def _constraints(schema: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern")
    parts = [f"{key} `{schema[key]}`" for key in keys if key in schema]
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return "; ".join(parts)


def _operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if operation.get("summary"):
        lines += [f"**{operation['summary']}**", ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    secured = bool(operation.get("security"))
    lines += ["Authentication: " + ("bearer token" if secured else "none") + ".", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| Parameter | In | Type | Required | Description |", "| --- | --- | --- | --- | --- |"]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            description = "; ".join(filter(None, (parameter.get("description"), _constraints(schema))))
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_cell(schema_type(schema))} | "
                f"{'yes' if parameter.get('required') else 'no'} | {_cell(description)} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        required = "required" if body.get("required") else "optional"
        for content_type, content in body.get("content", {}).items():
            lines += [f"Request body ({required}), `{content_type}`: {schema_type(content.get('schema', {}))}", ""]
    lines += ["| Status | Meaning | Body |", "| --- | --- | --- |"]
    for code, response in operation.get("responses", {}).items():
        bodies = ", ".join(
            f"{schema_type(content['schema'])} (`{content_type}`)" if content.get("schema") else f"`{content_type}`"
            for content_type, content in response.get("content", {}).items()
        )
        lines.append(f"| {code} | {_cell(response.get('description'))} | {_cell(bodies)} |")
    return [*lines, ""]


def _model(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name} {{#{_anchor(name)}}}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    properties = schema.get("properties")
    if not properties:
        return [*lines, f"Type: {schema_type(schema)}.", ""]
    required = set(schema.get("required", []))
    lines += ["| Field | Type | Required | Description |", "| --- | --- | --- | --- |"]
    for field, field_schema in properties.items():
        description = "; ".join(filter(None, (field_schema.get("description"), _constraints(field_schema))))
        lines.append(
            f"| `{field}` | {_cell(schema_type(field_schema))} | {'yes' if field in required else 'no'} | "
            f"{_cell(description)} |"
        )
    return [*lines, ""]


def render_openapi(document: dict[str, Any]) -> str:
    """The whole reference page: operations grouped by tag, then every model."""
    info = document.get("info", {})
    lines = [
        "# REST API reference",
        "",
        f"*{info.get('title', 'API')}* version {info.get('version', '?')}, OpenAPI {document.get('openapi', '?')}. "
        "This page is generated from the app's own OpenAPI document when the documentation is built; "
        "the running API serves the same document at `/api/v1/openapi.json`. Inside Airflow's api-server "
        "every path below is under `/typecheck` (`/typecheck/api/v1/...`). See [the REST API guide](rest-api.md) "
        "for the workflow and the error conventions.",
        "",
    ]
    if info.get("summary"):
        lines[2:2] = [info["summary"], ""]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                by_tag[(operation.get("tags") or ["other"])[0]].append((path, method, operation))
    for tag, operations in by_tag.items():
        lines += [f"## {tag}", ""]
        for path, method, operation in operations:
            lines += _operation(path, method, operation)
    models = document.get("components", {}).get("schemas", {})
    if models:
        lines += ["## Models", ""]
        for name in sorted(models):
            lines += _model(name, models[name])
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from airflow_provider_typecheck.api import create_app
    from airflow_provider_typecheck.settings import TypecheckSettings

    sys.stdout.write(render_openapi(create_app(TypecheckSettings()).openapi()))
