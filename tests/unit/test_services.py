"""The composition root is the one place that builds clients, and the package imports in one direction.

Both checks read the package's source (``ast``), so they see every import and every
call, including those inside functions, which a run of the code may never reach.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

PACKAGE = "airflow_provider_typecheck"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

# Calls that open (or build) a client of a service we run, by the name they are called with.
CLIENT_CONSTRUCTORS = frozenset({
    "Redis", "StrictRedis", "redis.Redis", "Redis.from_url", "redis.Redis.from_url", "redis.from_url",
    "redis.asyncio.Redis", "redis.asyncio.from_url", "RedisCluster",
    "MongoClient", "pymongo.MongoClient", "AsyncMongoClient",
    "psycopg.connect", "psycopg2.connect", "psycopg.Connection.connect", "psycopg_pool.ConnectionPool",
    "pika.BlockingConnection", "BlockingConnection", "pika.SelectConnection", "SelectConnection",
    "aio_pika.connect", "aio_pika.connect_robust",
    # Airflow's hooks for those services: what their get_conn() returns is such a client.
    "PostgresHook", "MongoHook", "RedisHook",
})
# The composition root builds clients; a hook is the Airflow face of one connection type,
# and opening its connection (get_conn, aconnect) is what a hook is for.
ALLOWED = {f"{PACKAGE}/services.py"}
ALLOWED_FOLDERS = (f"{PACKAGE}/hooks/",)


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _called_name(node: ast.Call) -> str | None:
    parts = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    return ".".join(reversed(parts))


def client_constructions(source: str) -> list[str]:
    """``name:line`` of each call in ``source`` that builds a service client."""
    return [
        f"{name}:{node.lineno}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and (name := _called_name(node)) in CLIENT_CONSTRUCTORS
    ]


def test_the_scanner_sees_a_client_built_anywhere_in_a_module() -> None:
    source = (
        "import redis\nfrom pymongo import MongoClient\n"
        "def f():\n    return redis.Redis.from_url('redis://x'), MongoClient('mongodb://x')\n"
    )
    assert client_constructions(source) == ["redis.Redis.from_url:4", "MongoClient:4"]


def test_no_module_but_the_composition_root_builds_a_service_client() -> None:
    offenders = {}
    for path in _modules().values():
        relative = path.relative_to(ROOT.parent).as_posix()
        if relative in ALLOWED or relative.startswith(ALLOWED_FOLDERS):
            continue
        found = client_constructions(path.read_text(encoding="utf-8"))
        if found:
            offenders[relative] = found
    assert offenders == {}, "build clients in services.py (the composition root), not here"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, source: str, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports at run time (anywhere but under ``TYPE_CHECKING``)."""
    found: set[str] = set()
    package = module if f"{module}.__init__" in known else module.rsplit(".", 1)[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules) | {f"{name}.__init__" for name, path in modules.items() if path.name == "__init__.py"}
    return {name: imports_of(name, path.read_text(encoding="utf-8"), known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_imports_inside_functions_and_relative_ones() -> None:
    known = {"p", "p.__init__", "p.a", "p.b", "p.c"}
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p import c\ndef f():\n    from .b import x\n"
    assert imports_of("p.a", source, known) == {"p.b"}


def test_the_package_imports_without_a_circle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "airflow_provider_typecheck.registry.cache" in graph
    assert cycles(graph) == []


def test_the_registry_and_its_cache_no_longer_import_each_other() -> None:
    graph = import_graph()
    assert "airflow_provider_typecheck.registry.schemas" in graph["airflow_provider_typecheck.registry.cache"]
    assert not any(name.startswith("airflow_provider_typecheck.registry.cache")
                   for name in graph["airflow_provider_typecheck.registry.schemas"])


# --- the root itself --------------------------------------------------------------


def test_services_connect_to_nothing_until_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Connection ids that name nothing: building anything would fail at once.
    services = Services(TypecheckSettings(), redis_conn_id="nowhere", postgres_conn_id="nowhere",
                        mongo_conn_id="nowhere", rabbitmq_conn_id="nowhere")
    assert services.settings.redis_conn_id == "nowhere"
    assert "redis" not in vars(services) and "postgres" not in vars(services)


def test_a_connection_id_override_is_checked_like_a_setting() -> None:
    with pytest.raises(ValueError, match="schema_store"):
        Services(TypecheckSettings(), schema_store="sqlite")


def test_the_limits_come_from_the_settings() -> None:
    limits = Services(TypecheckSettings(max_schema_bytes=1234, max_schema_depth=7, max_workbook_cells=99,
                                        max_workbook_uncompressed_bytes=4321)).limits
    assert (limits.max_schema_bytes, limits.max_schema_depth) == (1234, 7)
    assert (limits.workbook.max_cells, limits.workbook.max_uncompressed_bytes) == (99, 4321)


def test_the_rabbitmq_uri_goes_through_the_one_parser() -> None:
    services = Services(TypecheckSettings(rabbitmq_uri="amqp://u:p@mq:5999/jobs?heartbeat=7&connection_timeout=3"))
    parameters = services.rabbitmq_parameters
    assert (parameters.host, parameters.port, parameters.virtual_host, parameters.heartbeat) == ("mq", 5999, "jobs", 7)
    assert parameters.socket_timeout == 3
    assert services.amqp_parameters.aio_pika()["heartbeat"] == 7
