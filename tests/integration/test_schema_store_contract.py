"""One contract for every schema store backend.

Backends:

* ``postgres``: the real server (``PostgresSchemaStore``);
* ``mongomock``: ``MongoSchemaStore`` with only ``MongoHook``'s client creation
  patched to mongomock (no MongoDB server can be installed on our machines). This
  is the one place in the project where mongomock is used;
* ``mongo``: ``MongoSchemaStore`` against a real MongoDB, when
  ``TYPECHECK_TEST_MONGO_URI`` is set (``mongodb://host:27017``); skipped otherwise.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_typecheck.registry.errors import (
    InvalidImportName,
    InvalidSchema,
    SchemaForbidden,
    SchemaNotFound,
    VersionConflict,
)
from airflow_provider_typecheck.registry.models import PutOutcome, SchemaWriter
from airflow_provider_typecheck.registry.mongo_schemas import MONGO_MAX_DOCUMENT_BYTES, MongoSchemaStore
from airflow_provider_typecheck.registry.postgres_schemas import PostgresSchemaStore
from airflow_provider_typecheck.registry.schemas import SchemaStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

MONGO_URI = os.environ.get("TYPECHECK_TEST_MONGO_URI")
NO_MONGO_REASON = "TYPECHECK_TEST_MONGO_URI is not set: no real MongoDB to test against (mongomock ran instead)"

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(**properties: Any) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "type": "object",
        "properties": properties or {"id": {"type": "integer"}},
    }


def _airflow_mongo_uri(uri: str) -> str:
    """Turn a ``mongodb://`` URI into Airflow's ``mongo://`` connection URI."""
    if uri.startswith("mongodb+srv://"):
        rest = uri.removeprefix("mongodb+srv://")
        return f"mongo://{rest}{'&' if '?' in rest else '?'}srv=true"
    return "mongo://" + uri.removeprefix("mongodb://")


@pytest.fixture(scope="module")
def mongo_database() -> str:
    return f"typecheck_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.integration("postgres")),
        pytest.param("mongomock"),
        pytest.param(
            "mongo",
            marks=[pytest.mark.integration("mongo"), pytest.mark.skipif(not MONGO_URI, reason=NO_MONGO_REASON)],
        ),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    mongo_database: str,
) -> Iterator[Any]:
    """A factory of stores on one backend: several stores model several processes."""
    made: list[Services] = []
    if backend == "postgres":
        request.getfixturevalue("postgres_conn")
        schema = request.getfixturevalue("pg_session_schema")

        def make(**kw: Any) -> SchemaStore:
            made.append(Services(TypecheckSettings(schema_store="postgres", postgres_schema=kw.pop("pg_schema", schema))))
            return PostgresSchemaStore(made[-1].postgres, **kw)

    else:
        if backend == "mongomock":
            import mongomock

            # Only the hook's client creation is replaced; the hook and store code run as is.
            # One shared mongomock client plays the server that every store talks to.
            client = mongomock.MongoClient()
            monkeypatch.setattr(
                "airflow.providers.mongo.hooks.mongo.MongoClient", lambda *args, **kwargs: client
            )
            monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", "mongo://mongomock.invalid:27017")
        else:
            monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", _airflow_mongo_uri(MONGO_URI or ""))

        def make(**kw: Any) -> SchemaStore:
            kw.pop("pg_schema", None)
            made.append(Services(TypecheckSettings(schema_store="mongo", mongo_database=mongo_database)))
            return MongoSchemaStore(made[-1].mongo, database=mongo_database, collection="schemas", **kw)

    yield make
    for services in made:
        services.close()


@pytest.fixture
def store(make_store: Any) -> SchemaStore:
    return make_store()


@pytest.fixture
def name(unique: str) -> str:
    return f"contract.{unique}"


@pytest.fixture(scope="module", autouse=True)
def _drop_real_mongo_database(mongo_database: str) -> Iterator[None]:
    """The real MongoDB database is this module's own: drop it at the end."""
    yield
    if MONGO_URI:
        import pymongo

        with pymongo.MongoClient(MONGO_URI) as client:
            client.drop_database(mongo_database)


def test_first_put_creates_version_one(store: SchemaStore, name: str) -> None:
    result = store.put(name, _schema(), new_version=True, actor="alice")

    assert (result.outcome, result.version, result.draft) == (PutOutcome.CREATED, 1, "2020-12")
    active = store.active(name)
    assert (active.version, active.schema, active.created_by) == (1, _schema(), "alice")


def test_identical_schema_is_a_no_op(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(), new_version=True, actor="alice")
    reordered = dict(reversed(list(_schema().items())))

    for new_version in (True, False):
        result = store.put(name, reordered, new_version=new_version, actor="bob")
        assert (result.outcome, result.version) == (PutOutcome.UNCHANGED, 1)
    assert len(store.status(name).versions) == 1
    assert store.active(name).created_by == "alice"


def test_new_version_becomes_active_and_old_stays_readable(store: SchemaStore, name: str) -> None:
    first, second = _schema(a={"type": "string"}), _schema(b={"type": "number"})
    store.put(name, first, new_version=True, actor="alice")

    result = store.put(name, second, new_version=True, actor="bob")

    assert (result.outcome, result.version) == (PutOutcome.NEW_VERSION, 2)
    assert store.active(name).schema == second
    assert store.active(name, version=1).schema == first
    assert store.active(name, version=2).created_by == "bob"


def test_replace_in_place_keeps_the_version_number(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(a={"type": "string"}), new_version=True, actor="alice")
    store.put(name, _schema(b={"type": "string"}), new_version=True, actor="alice")

    result = store.put(name, _schema(c={"type": "string"}), new_version=False, actor="bob")

    assert (result.outcome, result.version) == (PutOutcome.REPLACED, 2)
    active = store.active(name)
    assert active.schema == _schema(c={"type": "string"})
    assert (active.created_by, active.updated_by) == ("alice", "bob")
    assert [v.version for v in store.status(name).versions] == [1, 2]


def test_put_without_new_version_on_a_new_name_creates_it(store: SchemaStore, name: str) -> None:
    result = store.put(name, _schema(), new_version=False, actor=None)

    assert (result.outcome, result.version) == (PutOutcome.CREATED, 1)
    assert store.active(name).created_by is None


def test_status_lists_every_version_oldest_first(store: SchemaStore, name: str) -> None:
    for i, actor in enumerate(["alice", "bob", "carol"]):
        store.put(name, _schema(**{f"p{i}": {"type": "string"}}), new_version=True, actor=actor)

    status = store.status(name)

    assert status.active_version == 3
    assert [(v.version, v.created_by, v.draft) for v in status.versions] == [
        (1, "alice", "2020-12"),
        (2, "bob", "2020-12"),
        (3, "carol", "2020-12"),
    ]
    created = [v.created_at for v in status.versions]
    assert created == sorted(created) and all(c.tzinfo is not None for c in created)


def test_remove_rolls_back_then_deletes_the_entry(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(a={"type": "string"}), new_version=True, actor="alice")
    store.put(name, _schema(b={"type": "string"}), new_version=True, actor="alice")

    first = store.remove(name)
    assert (first.removed_version, first.active_version) == (2, 1)
    assert store.active(name).schema == _schema(a={"type": "string"})

    last = store.remove(name)
    assert (last.removed_version, last.active_version) == (1, None)
    with pytest.raises(SchemaNotFound):
        store.active(name)
    with pytest.raises(SchemaNotFound):
        store.status(name)
    with pytest.raises(SchemaNotFound):
        store.remove(name)


def test_version_numbers_are_not_reused_after_a_rollback(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(a={"type": "string"}), new_version=True, actor=None)
    store.put(name, _schema(b={"type": "string"}), new_version=True, actor=None)
    store.remove(name)

    result = store.put(name, _schema(c={"type": "string"}), new_version=True, actor=None)

    assert result.version == 3
    assert [v.version for v in store.status(name).versions] == [1, 3]
    with pytest.raises(SchemaNotFound):
        store.active(name, version=2)


def test_a_recreated_entry_never_reuses_a_version_number(store: SchemaStore, name: str) -> None:
    """Version 1 of a removed name and version 1 of its successor would be two schemas under one number."""
    store.put(name, _schema(a={"type": "string"}), new_version=True, actor=None)
    store.put(name, _schema(b={"type": "string"}), new_version=True, actor=None)
    store.remove(name)
    store.remove(name)
    assert store.list(name).total == 0

    result = store.put(name, _schema(c={"type": "string"}), new_version=True, actor=None)

    assert (result.outcome, result.version) == (PutOutcome.CREATED, 3)
    assert [v.version for v in store.status(name).versions] == [3]
    with pytest.raises(SchemaNotFound):
        store.active(name, version=1)
    assert [(i.import_name, i.active_version, i.version_count) for i in store.list(name).items] == [(name, 3, 1)]


def test_a_rollback_leaves_the_active_version_right_everywhere(store: SchemaStore, name: str) -> None:
    for prop in "abc":
        store.put(name, _schema(**{prop: {"type": "string"}}), new_version=True, actor=None)

    assert store.remove(name).active_version == 2

    assert store.active(name).version == 2
    assert store.status(name).active_version == 2
    (summary,) = store.list(name).items
    assert (summary.active_version, summary.version_count) == (2, 2)


def test_an_expected_version_guards_put_and_remove(store: SchemaStore, name: str) -> None:
    with pytest.raises(VersionConflict):
        store.put(name, _schema(), new_version=True, actor=None, expected_version=1)
    store.put(name, _schema(a={"type": "string"}), new_version=True, actor=None, expected_version=None)
    store.put(name, _schema(b={"type": "string"}), new_version=True, actor=None, expected_version=1)

    with pytest.raises(VersionConflict, match="version 2"):
        store.put(name, _schema(c={"type": "string"}), new_version=False, actor=None, expected_version=1)
    with pytest.raises(VersionConflict):
        store.put(name, _schema(b={"type": "string"}), new_version=True, actor=None, expected_version=1)
    assert store.active(name).schema == _schema(b={"type": "string"})

    # Two callers who both saw version 2 and both roll back: only the first removes anything.
    assert store.remove(name, expected_version=2).active_version == 1
    with pytest.raises(VersionConflict):
        store.remove(name, expected_version=2)
    assert store.active(name).version == 1
    replaced = store.put(name, _schema(d={"type": "string"}), new_version=False, actor=None, expected_version=1)
    assert replaced.version == 1
    store.remove(name, expected_version=1)
    with pytest.raises(VersionConflict):
        store.remove(name, expected_version=1)


def test_concurrent_rollbacks_with_an_expected_version_remove_one(backend: str, make_store: Any, name: str) -> None:
    if backend == "mongomock":
        pytest.skip("mongomock is not thread-safe; the sequential expected-version test covers it")
    stores = [make_store() for _ in range(4)]
    for prop in "abc":
        stores[0].put(name, _schema(**{prop: {"type": "string"}}), new_version=True, actor=None)
    start = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def roll_back(store: SchemaStore) -> None:
        start.wait()
        try:
            store.remove(name, expected_version=3)
            outcomes.append("removed")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=roll_back, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict"] * 3 + ["removed"]
    assert stores[0].active(name).version == 2


def test_listing_sorts_bytewise(backend: str, make_store: Any, unique: str, request: pytest.FixtureRequest) -> None:
    """Both backends page in one order: PostgreSQL's "C" collation is MongoDB's bytewise order."""
    kw: dict[str, Any] = {}
    if backend == "postgres":
        # A database whose default collation is linguistic (en_US, ICU) sorts 'a' before 'B'.
        schema = request.getfixturevalue("pg_test_schema")
        kw["pg_schema"] = schema
        make_store(**kw).ping()
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        with PostgresHook().get_conn() as conn, conn.cursor() as cur:
            for table in ("schema_versions", "schema_entries"):
                cur.execute(f'ALTER TABLE "{schema}".{table} ALTER COLUMN import_name TYPE text COLLATE "und-x-icu"')
            conn.commit()
    store = make_store(**kw)
    names = [f"sort{unique}{suffix}" for suffix in ("a", "B", "_x", "-x", ".x", "0", "Z", "b")]
    for n in names:
        store.put(n, _schema(), new_version=True, actor=None)

    listed = [i.import_name for i in store.list(f"sort{unique}").items]

    assert listed == sorted(names, key=lambda n: n.encode())
    assert [i.import_name for i in store.list(f"sort{unique}", skip=2, limit=3).items] == listed[2:5]


def test_schemas_past_the_size_and_depth_limits_are_refused(make_store: Any, name: str) -> None:
    store = make_store(max_schema_bytes=2_000, max_schema_depth=10)
    big = _schema(a={"type": "string", "description": "x" * 2_000})
    with pytest.raises(InvalidSchema, match="bytes"):
        store.put(name, big, new_version=True, actor=None)
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(10):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(InvalidSchema, match="deeper than 10"):
        store.put(name, deep, new_version=True, actor=None)
    # Far past Python's stack: refused, not a RecursionError.
    abyss: dict[str, Any] = {}
    for _ in range(20_000):
        abyss = {"not": abyss}
    with pytest.raises(InvalidSchema):
        make_store().put(name, abyss, new_version=True, actor=None)
    with pytest.raises(SchemaNotFound):
        store.active(name)


def test_many_big_versions_fit_though_together_they_pass_16_mib(make_store: Any, name: str) -> None:
    """One document holding every version would pass MongoDB's 16 MiB limit here."""
    store = make_store(max_schema_bytes=5 * 1024 * 1024)
    size = 4 * 1024 * 1024
    for i in range(5):
        store.put(name, {"type": "string", "description": str(i) * size}, new_version=True, actor=None)

    assert [v.version for v in store.status(name).versions] == [1, 2, 3, 4, 5]
    assert store.active(name, version=2).schema["description"] == "1" * size
    assert store.remove(name).active_version == 4


def test_a_version_past_16_mib_is_refused_by_mongodb_stores(backend: str, make_store: Any, name: str) -> None:
    if backend == "postgres":
        pytest.skip("PostgreSQL has no 16 MiB limit on a row")
    store = make_store(max_schema_bytes=32 * 1024 * 1024)

    with pytest.raises(InvalidSchema, match="16,777,216"):
        huge = {"type": "string", "description": "x" * (MONGO_MAX_DOCUMENT_BYTES + 1)}
        store.put(name, huge, new_version=True, actor=None)

    with pytest.raises(SchemaNotFound):
        store.active(name)


def test_ping(store: SchemaStore) -> None:
    store.ping()


def test_unknown_names_and_versions_are_not_found(store: SchemaStore, name: str) -> None:
    with pytest.raises(SchemaNotFound):
        store.active(name)
    store.put(name, _schema(), new_version=True, actor=None)
    with pytest.raises(SchemaNotFound):
        store.active(name, version=7)


def test_list_pages_through_a_prefix(store: SchemaStore, unique: str) -> None:
    prefix = f"list-{unique}."
    names = [f"{prefix}{i:02d}" for i in range(5)]
    for n in reversed(names):
        store.put(n, _schema(), new_version=True, actor=None)
    store.put(names[0], _schema(x={"type": "string"}), new_version=True, actor=None)
    store.put(f"list-{unique}-other", _schema(), new_version=True, actor=None)

    page = store.list(prefix, skip=1, limit=3)

    assert page.total == 5
    assert [item.import_name for item in page.items] == names[1:4]
    first = store.list(prefix, skip=0, limit=1).items[0]
    assert (first.import_name, first.active_version, first.version_count) == (names[0], 2, 2)
    assert store.list(prefix, skip=5, limit=10).items == []


def test_a_prefix_is_literal_not_a_pattern(store: SchemaStore, unique: str) -> None:
    store.put(f"lit{unique}_a", _schema(), new_version=True, actor=None)
    store.put(f"lit{unique}Xa", _schema(), new_version=True, actor=None)
    store.put(f"lit{unique}.a", _schema(), new_version=True, actor=None)

    assert [i.import_name for i in store.list(f"lit{unique}_").items] == [f"lit{unique}_a"]
    assert [i.import_name for i in store.list(f"lit{unique}.").items] == [f"lit{unique}.a"]


@pytest.mark.parametrize("bad", ["", "a" * 129, "has space", "slash/name", "dollar$", "ünï", "semi;colon", None, 42])
def test_import_names_are_validated(store: SchemaStore, bad: Any) -> None:
    with pytest.raises(InvalidImportName):
        store.put(bad, _schema(), new_version=True, actor=None)
    with pytest.raises(InvalidImportName):
        store.active(bad)
    with pytest.raises(InvalidImportName):
        store.remove(bad)


def test_invalid_schemas_are_refused_and_nothing_is_stored(store: SchemaStore, name: str) -> None:
    with pytest.raises(InvalidSchema) as caught:
        misspelt = {"$schema": DRAFT, "type": "object", "properties": {"a": {"type": "strnig"}}}
        store.put(name, misspelt, new_version=True, actor=None)
    assert caught.value.pointer == "/properties/a/type"
    with pytest.raises(InvalidSchema):
        store.put(name, ["not", "an", "object"], new_version=True, actor=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchema):
        store.put(name, {"type": "number", "minimum": float("nan")}, new_version=True, actor=None)
    with pytest.raises(SchemaNotFound):
        store.active(name)


def test_dollar_and_dotted_keys_round_trip_exactly(store: SchemaStore, name: str) -> None:
    schema = {
        "$schema": DRAFT,
        "$comment": "keys MongoDB would refuse as field names",
        "$defs": {"$money": {"type": "number", "multipleOf": 0.01}},
        "type": "object",
        "properties": {
            "$price": {"$ref": "#/$defs/$money"},
            "a.b": {"type": "string", "title": "dotted"},
            "$": {"const": {"$nested": [1, {"$deeper": None}]}},
            "zé": {"enum": ["ü", "日本"]},
        },
        "required": ["$price"],
    }

    store.put(name, schema, new_version=True, actor=None)
    back = store.active(name).schema

    assert back == schema
    assert list(back) == list(schema)
    assert list(back["properties"]) == list(schema["properties"])


_KEY = st.text(alphabet=st.sampled_from("$.ab_é0 "), min_size=1, max_size=6)
# No NUL: PostgreSQL refuses it in text and jsonb, which test_nul_in_a_schema covers.
_LEAF = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(
    alphabet=st.characters(exclude_characters="\x00"), max_size=8
)
_ANNOTATION = st.recursive(
    _LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3), max_leaves=8
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    properties=st.dictionaries(_KEY, st.fixed_dictionaries({"type": st.just("string")}), min_size=1, max_size=4),
    examples=st.lists(_ANNOTATION, max_size=3),
)
def test_any_keys_round_trip(store: SchemaStore, name: str, properties: dict[str, Any], examples: list[Any]) -> None:
    schema = {"$schema": DRAFT, "type": "object", "properties": properties, "examples": examples}

    store.put(name, schema, new_version=True, actor=None)

    assert store.active(name).schema == schema


def test_concurrent_uploads_get_distinct_versions_and_none_is_lost(
    backend: str, make_store: Any, name: str
) -> None:
    if backend == "mongomock":
        pytest.skip("mongomock is not thread-safe; its CAS retry is tested by the interleaving test below")
    writers, uploads_each = 4, 5
    stores = [make_store() for _ in range(writers)]
    stores[0].put(name, _schema(), new_version=True, actor="seed")
    start = threading.Barrier(writers)
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def upload(index: int) -> None:
        try:
            start.wait()
            for j in range(uploads_each):
                prop = {f"w{index}_{j}": {"type": "string"}}
                res = stores[index].put(name, _schema(**prop), new_version=True, actor=f"w{index}_{j}")
                results.setdefault(f"w{index}", []).append(res.version)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    versions = sorted(v for vs in results.values() for v in vs)
    assert versions == list(range(2, 2 + writers * uploads_each))
    status = stores[0].status(name)
    assert [v.version for v in status.versions] == list(range(1, 2 + writers * uploads_each))
    # Every upload is stored under the version its writer was told.
    for writer, numbers in results.items():
        for j, number in enumerate(numbers):
            assert store_schema_props(stores[0], name, number) == [f"{writer}_{j}"]


def store_schema_props(store: SchemaStore, name: str, version: int) -> list[str]:
    return list(store.active(name, version=version).schema["properties"])


def test_a_writer_that_loses_the_race_retries_on_the_new_state(
    backend: str, make_store: Any, name: str
) -> None:
    """Deterministic interleaving for MongoDB: a rival write lands between our read and our update."""
    if backend == "postgres":
        pytest.skip("PostgreSQL writers wait on a row lock instead of retrying; the threaded test covers it")
    ours, rival = make_store(), make_store()
    ours.put(name, _schema(), new_version=True, actor="seed")
    collection = ours._coll()
    real_find_one = collection.find_one
    raced = []

    class RacingCollection:
        def __getattr__(self, attr: str) -> Any:
            return getattr(collection, attr)

        def find_one(self, *args: Any, **kwargs: Any) -> Any:
            doc = real_find_one(*args, **kwargs)
            if not raced:
                raced.append(True)
                rival.put(name, _schema(rival={"type": "string"}), new_version=True, actor="rival")
            return doc

    ours._entries = RacingCollection()  # type: ignore[assignment]
    result = ours.put(name, _schema(ours={"type": "string"}), new_version=True, actor="ours")

    assert result.version == 3
    assert [(v.version, v.created_by) for v in rival.status(name).versions] == [(1, "seed"), (2, "rival"), (3, "ours")]


def test_concurrent_uploads_and_rollbacks_keep_the_entry_consistent(
    backend: str, make_store: Any, name: str
) -> None:
    """Removes may delete the entry under a waiting writer: it must recreate it, not fail or lose it."""
    if backend == "mongomock":
        pytest.skip("mongomock is not thread-safe; its CAS retry is tested by the interleaving test")
    writers, rounds = 3, 6
    stores = [make_store() for _ in range(writers + 1)]
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []
    uploaded: list[int] = []
    removed: list[int] = []

    def upload(index: int) -> None:
        try:
            start.wait()
            for j in range(rounds):
                prop = {f"w{index}_{j}": {"type": "string"}}
                uploaded.append(stores[index].put(name, _schema(**prop), new_version=True, actor=None).version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def roll_back() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                try:
                    removed.append(stores[writers].remove(name).removed_version)
                except SchemaNotFound:
                    pass  # nothing uploaded yet, or everything rolled back
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(writers)]
    threads.append(threading.Thread(target=roll_back))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(uploaded) == writers * rounds
    try:
        remaining = [v.version for v in stores[0].status(name).versions]
    except SchemaNotFound:
        remaining = []
    assert len(remaining) == len(uploaded) - len(removed)
    assert remaining == sorted(set(remaining))
    if remaining:
        assert stores[0].active(name).version == remaining[-1]


def test_nul_in_a_schema_round_trips_or_is_refused_clearly(backend: str, store: SchemaStore, name: str) -> None:
    schema = {"$schema": DRAFT, "type": "object", "examples": ["a\x00b"]}
    if backend == "postgres":
        with pytest.raises(InvalidSchema, match="NUL"):
            store.put(name, schema, new_version=True, actor=None)
    else:
        store.put(name, schema, new_version=True, actor=None)
        assert store.active(name).schema == schema


def test_a_mongo_uri_is_used_instead_of_the_airflow_connection(
    monkeypatch: pytest.MonkeyPatch, mongo_database: str, name: str
) -> None:
    """With ``mongo_uri`` the client is built from it: no Airflow connection is looked up."""
    import mongomock

    made: list[str] = []
    monkeypatch.delenv("AIRFLOW_CONN_MONGO_DEFAULT", raising=False)
    monkeypatch.setattr("pymongo.MongoClient", lambda uri, **kw: made.append(uri) or mongomock.MongoClient())
    services = Services(TypecheckSettings(
        schema_store="mongo", mongo_conn_id="no_such_connection", mongo_database=mongo_database,
        mongo_uri="mongodb://db:27017",
    ))
    store = services.schema_backend

    store.put(name, _schema(), new_version=True, actor=None)

    assert store.active(name).schema == _schema()
    assert made == ["mongodb://db:27017"]
    store.ping()
    services.close()


ALICE = SchemaWriter(user_id="alice-id")
MALLORY = SchemaWriter(user_id="mallory-id")
ADMIN = SchemaWriter(user_id="admin-id", is_admin=True)


def test_only_the_owner_or_an_admin_changes_a_schema(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(), new_version=True, actor="alice", writer=ALICE)
    # The attacker first: a new version, a replacement (even an identical one) and a rollback.
    for new_version, schema in ((True, _schema(x={"type": "string"})), (False, _schema(x={"type": "string"})),
                                (False, _schema())):
        with pytest.raises(SchemaForbidden):
            store.put(name, schema, new_version=new_version, actor="mallory", writer=MALLORY)
    with pytest.raises(SchemaForbidden):
        store.remove(name, writer=MALLORY)
    assert [v.version for v in store.status(name).versions] == [1]
    assert store.active(name).schema == _schema()

    assert store.put(name, _schema(y={}), new_version=True, actor="alice", writer=ALICE).version == 2
    assert store.put(name, _schema(z={}), new_version=False, actor="root", writer=ADMIN).outcome is PutOutcome.REPLACED
    assert store.remove(name, writer=ADMIN).active_version == 1
    assert store.remove(name, writer=ALICE).active_version is None
    # Removed, the name is free: its next creator owns it (and the numbering goes on).
    assert store.put(name, _schema(), new_version=True, actor="mallory", writer=MALLORY).version == 3
    with pytest.raises(SchemaForbidden):
        store.put(name, _schema(a={}), new_version=True, actor="alice", writer=ALICE)
    # Without a writer (Airflow's operator, the tests) nothing is checked.
    assert store.put(name, _schema(b={}), new_version=True, actor="dag").version == 4


def test_a_name_created_without_a_writer_is_for_admins_only(store: SchemaStore, name: str) -> None:
    store.put(name, _schema(), new_version=True, actor="dag")
    with pytest.raises(SchemaForbidden):
        store.put(name, _schema(x={}), new_version=True, actor="alice", writer=ALICE)
    assert store.put(name, _schema(x={}), new_version=True, actor="root", writer=ADMIN).version == 2


def test_two_users_creating_one_name_at_once_get_one_owner(backend: str, make_store: Any, name: str) -> None:
    if backend == "mongomock":
        pytest.skip("mongomock is not thread-safe; the same compare-and-swap is tested by the tests above")
    writers = [SchemaWriter(user_id=f"user-{i}") for i in range(6)]
    stores = [make_store() for _ in writers]
    start = threading.Barrier(len(writers))
    outcomes: dict[str, str] = {}

    def create(index: int) -> None:
        start.wait()
        try:
            result = stores[index].put(name, _schema(**{f"p{index}": {}}), new_version=True, actor=f"u{index}",
                                       writer=writers[index])
            outcomes[writers[index].user_id] = result.outcome.value
        except SchemaForbidden:
            outcomes[writers[index].user_id] = "forbidden"

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["created"] + ["forbidden"] * (len(writers) - 1)
    assert [v.version for v in stores[0].status(name).versions] == [1]


def test_migration_gives_existing_postgres_names_the_user_who_created_them(
    postgres_conn: str, pg_test_schema: str
) -> None:
    from contextlib import closing

    from airflow_provider_typecheck.registry.migrations import MIGRATIONS, run_migrations

    services = Services(TypecheckSettings(schema_store="postgres", postgres_schema=pg_test_schema))
    q = f'"{pg_test_schema}"'
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("airflow_provider_typecheck.registry.migrations.MIGRATIONS",
                       tuple(m for m in MIGRATIONS if m.id < 4))
            run_migrations(services.postgres_connect, pg_test_schema)
        with closing(services.postgres_connect()) as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {q}.users (username, hashed_password, role) VALUES ('alice', 'x', 'user')"
                        " RETURNING id")
            alice = SchemaWriter(user_id=str(cur.fetchone()[0]))
            for import_name, creator in (("kept", "Alice"), ("orphan", "gone-user")):
                cur.execute(f"INSERT INTO {q}.schema_entries (import_name, next_version) VALUES (%s, 2)",
                            (import_name,))
                cur.execute(f"INSERT INTO {q}.schema_versions VALUES"
                            " (%s, 1, '{}'::jsonb, '{}', 'f', 'x', now(), %s, now(), %s)",
                            (import_name, creator, creator))
            conn.commit()
        assert run_migrations(services.postgres_connect, pg_test_schema) == [4]
        store = PostgresSchemaStore(services.postgres)
        with pytest.raises(SchemaForbidden):
            store.put("kept", _schema(), new_version=True, actor="mallory", writer=MALLORY)
        assert store.put("kept", _schema(), new_version=True, actor="alice", writer=alice).version == 2
        with pytest.raises(SchemaForbidden):
            store.put("orphan", _schema(), new_version=True, actor="alice", writer=alice)
    finally:
        services.close()
