"""Users in a real PostgreSQL: migrations, CRUD, the last-admin rule, login, the first admin."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import closing

import pytest
from pydantic import SecretStr, ValidationError

from airflow_provider_typecheck.registry.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInput,
    InvalidToken,
    LastAdminError,
    UserExists,
    UserNotFound,
)
from airflow_provider_typecheck.registry.migrations import MIGRATIONS, run_migrations
from airflow_provider_typecheck.registry.models import UserCreate, UserPublic, UserUpdate
from airflow_provider_typecheck.registry.security import create_access_token, decode_access_token, hash_password
from airflow_provider_typecheck.registry.users import UserStore
from airflow_provider_typecheck.services import Services
from airflow_provider_typecheck.settings import TypecheckSettings

pytestmark = pytest.mark.integration("postgres")

PASSWORD = "correct horse battery"
JWT_SECRET = SecretStr("0123456789abcdef0123456789abcdef-test-only")


@pytest.fixture
def users(postgres_conn: str, pg_test_schema: str) -> UserStore:
    """A store on an empty users table of its own (the admin count must start at zero)."""
    return _store(pg_test_schema)


def _store(schema: str) -> UserStore:
    return Services(TypecheckSettings(postgres_schema=schema, development=True)).users


def _hook():  # noqa: ANN202 - a PostgresHook, imported late like the stores do
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook()


def _new(users: UserStore, username: str, role: str = "user", **kw: object) -> UserPublic:
    return users.create(UserCreate(username=username, password=PASSWORD, role=role, **kw))  # type: ignore[arg-type]


def test_migrations_are_recorded_and_idempotent(postgres_conn: str, pg_test_schema: str) -> None:
    hook = _hook()
    assert run_migrations(hook.get_conn, pg_test_schema) == [m.id for m in MIGRATIONS]
    assert run_migrations(hook.get_conn, pg_test_schema) == []
    with closing(hook.get_conn()) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT id FROM "{pg_test_schema}".typecheck_migrations ORDER BY id')
        assert [r[0] for r in cur.fetchall()] == [m.id for m in MIGRATIONS]
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (pg_test_schema,)
        )
        assert [r[0] for r in cur.fetchall()] == ["schema_entries", "schema_versions", "typecheck_migrations", "users"]


def test_a_pooled_connection_is_reused_and_a_dead_one_replaced(users: UserStore) -> None:
    def backend_pid() -> int:
        with users._connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            return cur.fetchone()[0]

    first = backend_pid()
    assert backend_pid() == first  # the kept connection, not a new one
    with closing(_hook().get_conn()) as other, other.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (first,))
        other.commit()

    with pytest.raises(Exception, match="terminat|closed|connection"):
        backend_pid()  # the one call that finds it dead...
    assert backend_pid() != first  # ...drops it, and the next call gets a new one
    users.ping()


def test_migrations_started_together_apply_once(postgres_conn: str, pg_test_schema: str) -> None:
    hook = _hook()
    start = threading.Barrier(4)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        start.wait()
        try:
            applied.append(run_migrations(hook.get_conn, pg_test_schema))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(applied, key=len) == [[], [], [], [m.id for m in MIGRATIONS]]


def test_create_get_list(users: UserStore) -> None:
    alice = _new(users, "alice", "admin")
    bob = _new(users, "Bob")

    assert users.get(alice.id) == alice
    assert users.get_by_username("BOB") == bob
    assert (alice.role, alice.is_active, bob.role) == ("admin", True, "user")
    page = users.list(skip=1, limit=1)
    assert (page.count, [u.username for u in page.data]) == (2, ["Bob"])
    assert "hashed_password" not in UserPublic.model_fields
    assert "hashed_password" not in alice.model_dump()


def test_usernames_are_unique_whatever_the_case(users: UserStore) -> None:
    _new(users, "carol")
    with pytest.raises(UserExists):
        _new(users, "CAROL")


@pytest.mark.parametrize("bad", ["ab", "has space", "-dash-first", "x" * 65, "semi;colon"])
def test_usernames_are_validated(bad: str) -> None:
    with pytest.raises(ValidationError):
        UserCreate(username=bad, password=PASSWORD)


def test_unknown_users_are_not_found(users: UserStore) -> None:
    with pytest.raises(UserNotFound):
        users.get(uuid.uuid4())
    with pytest.raises(UserNotFound):
        users.get("not-a-uuid")
    with pytest.raises(UserNotFound):
        users.get_by_username("nobody")
    with pytest.raises(UserNotFound):
        users.update(uuid.uuid4(), UserUpdate(role="admin"))
    with pytest.raises(UserNotFound):
        users.delete(uuid.uuid4())
    with pytest.raises(InvalidInput):
        users.list(limit=0)


def test_update_changes_only_what_is_given(users: UserStore) -> None:
    _new(users, "root", "admin")
    dave = _new(users, "dave")

    promoted = users.update(dave.id, UserUpdate(role="admin"))
    assert (promoted.role, promoted.is_active) == ("admin", True)
    assert promoted.updated_at >= dave.updated_at and promoted.created_at == dave.created_at

    users.update(dave.id, UserUpdate(password=SecretStr("a new long password")))
    assert users.authenticate("dave", "a new long password").id == dave.id
    with pytest.raises(AuthenticationError):
        users.authenticate("dave", PASSWORD)

    assert users.update(dave.id, UserUpdate(is_active=False)).is_active is False
    users.delete(dave.id)
    with pytest.raises(UserNotFound):
        users.get(dave.id)


def test_the_last_active_admin_stays(users: UserStore) -> None:
    root = _new(users, "root", "admin")
    _new(users, "inactive-admin", "admin", is_active=False)

    for change in (UserUpdate(role="user"), UserUpdate(is_active=False)):
        with pytest.raises(LastAdminError):
            users.update(root.id, change)
    with pytest.raises(LastAdminError):
        users.delete(root.id)
    assert users.update(root.id, UserUpdate(role="admin", is_active=True)).role == "admin"

    other = _new(users, "second-admin", "admin")
    users.update(root.id, UserUpdate(role="user"))
    with pytest.raises(LastAdminError):
        users.delete(other.id)


def test_two_admins_demoting_each_other_at_once_leave_one(users: UserStore) -> None:
    admins = [_new(users, f"admin{i}", "admin") for i in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(user: UserPublic) -> None:
        start.wait()
        try:
            users.update(user.id, UserUpdate(role="user"))
            outcomes.append("demoted")
        except LastAdminError:
            outcomes.append("refused")

    threads = [threading.Thread(target=demote, args=(a,)) for a in admins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["demoted", "refused"]
    assert [u.role for u in users.list().data].count("admin") == 1


def test_every_login_failure_is_the_same_error(users: UserStore) -> None:
    _new(users, "erin")
    frank = _new(users, "frank")
    users.update(frank.id, UserUpdate(is_active=False))

    assert users.authenticate("ERIN", PASSWORD).username == "erin"
    messages = set()
    for username, password in [("erin", "wrong password"), ("nobody", PASSWORD), ("frank", PASSWORD)]:
        with pytest.raises(AuthenticationError) as caught:
            users.authenticate(username, password)
        messages.add(str(caught.value))
    assert len(messages) == 1


def test_an_outdated_hash_is_upgraded_at_login(users: UserStore, pg_test_schema: str) -> None:
    from pwdlib.hashers.argon2 import Argon2Hasher

    grace = _new(users, "grace")
    weak = Argon2Hasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    users.set_password_hash(grace.id, weak)

    users.authenticate("grace", PASSWORD)

    stored = users.get_for_login("grace")
    assert stored is not None and stored.hashed_password != weak
    assert users.authenticate("grace", PASSWORD).id == grace.id


def init_users(settings: TypecheckSettings) -> UserStore:
    """What ``typecheck api`` does at start-up: the store, with the first admin of the settings."""
    store = Services(settings).users
    store.ensure_first_admin(settings)
    return store


def _settings(schema: str, **kw: object) -> TypecheckSettings:
    return TypecheckSettings(postgres_schema=schema, **kw)  # type: ignore[arg-type]


def test_a_deleted_first_admin_is_not_created_again(postgres_conn: str, pg_test_schema: str) -> None:
    settings = _settings(pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("s3cret-enough!"))
    store = init_users(settings)
    boss = store.get_by_username("boss")
    successor = _new(store, "successor", "admin")

    store.delete(boss.id)
    init_users(settings)  # the next start, with the same environment

    with pytest.raises(UserNotFound):
        store.get_by_username("boss")
    with pytest.raises(AuthenticationError):
        store.authenticate("boss", "s3cret-enough!")
    assert store.ensure_first_admin(settings) is None
    assert [u.username for u in store.list().data] == [successor.username]


def test_the_first_admin_name_taken_by_a_user_is_a_clear_error(postgres_conn: str, pg_test_schema: str) -> None:
    settings = _settings(pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("s3cret-enough!"))
    store = _store(pg_test_schema)
    _new(store, "BOSS")

    with pytest.raises(ConfigurationError, match="taken") as caught:
        store.ensure_first_admin(settings)
    assert "s3cret-enough!" not in str(caught.value)


def test_an_invalid_first_admin_password_is_never_in_the_error(postgres_conn: str, pg_test_schema: str) -> None:
    settings = _settings(
        pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("short7"), development=True
    )
    with pytest.raises(ConfigurationError) as caught:
        _store(pg_test_schema).ensure_first_admin(settings)
    assert "short7" not in str(caught.value)


def _jwt_settings(schema: str) -> TypecheckSettings:
    return _settings(schema, jwt_secret=JWT_SECRET)


def test_a_token_names_the_user_by_id_and_works_while_nothing_changes(users: UserStore, pg_test_schema: str) -> None:
    settings = _jwt_settings(pg_test_schema)
    _new(users, "root", "admin")
    ivan = _new(users, "ivan")

    token = users.issue_access_token(ivan.id, settings=settings)

    claims = decode_access_token(token, settings=settings)
    assert (claims.sub, claims.role, claims.ver) == (str(ivan.id), "user", 0)
    assert users.user_for_access_token(token, settings=settings) == ivan
    users.update(ivan.id, UserUpdate(role="user", is_active=True))  # no change: the token stays good
    assert users.user_for_token(claims).id == ivan.id


@pytest.mark.parametrize(
    "change",
    [
        UserUpdate(password=SecretStr("another long password")),
        UserUpdate(role="admin"),
        UserUpdate(is_active=False),
        None,  # deleted
    ],
    ids=["password", "role", "deactivated", "deleted"],
)
def test_a_token_stops_working_once_its_user_changes(
    users: UserStore, pg_test_schema: str, change: UserUpdate | None
) -> None:
    settings = _jwt_settings(pg_test_schema)
    _new(users, "root", "admin")
    judy = _new(users, "judy")
    token = users.issue_access_token(judy.id, settings=settings)

    if change is None:
        users.delete(judy.id)
    else:
        users.update(judy.id, change)

    with pytest.raises(InvalidToken):
        users.user_for_access_token(token, settings=settings)
    if change is not None and change.is_active is not False:
        fresh = users.issue_access_token(judy.id, settings=settings)
        assert users.user_for_access_token(fresh, settings=settings).id == judy.id


def test_a_token_for_a_user_id_that_never_existed_is_refused(users: UserStore, pg_test_schema: str) -> None:
    settings = _jwt_settings(pg_test_schema)
    for subject in (str(uuid.uuid4()), "not-a-uuid", "mallory"):
        token = create_access_token(subject, "admin", token_version=0, settings=settings)
        with pytest.raises(InvalidToken):
            users.user_for_access_token(token, settings=settings)
    inactive = _new(users, "ken", is_active=False)
    with pytest.raises(AuthenticationError):
        users.issue_access_token(inactive.id, settings=settings)


def test_the_first_admin_is_created_once(postgres_conn: str, pg_test_schema: str) -> None:
    settings = _settings(pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("s3cret-enough!"))

    store = init_users(settings)
    again = store.ensure_first_admin(settings)

    assert again is None
    boss = store.authenticate("boss", "s3cret-enough!")
    assert (boss.role, store.list().count) == ("admin", 1)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"first_admin_username": "boss"},
        {"first_admin_password": SecretStr("s3cret-enough!")},
        {"first_admin_username": "boss", "first_admin_password": SecretStr("short"), "development": True},
        {"first_admin_username": "boss", "first_admin_password": SecretStr("  "), "development": True},
    ],
)
def test_the_first_admin_needs_a_real_password(postgres_conn: str, pg_test_schema: str, kw: dict) -> None:
    with pytest.raises(ConfigurationError):
        _store(pg_test_schema).ensure_first_admin(_settings(pg_test_schema, **kw))


def test_a_placeholder_first_admin_password_is_only_for_development(postgres_conn: str, pg_test_schema: str) -> None:
    with pytest.raises(ValidationError):
        _settings(pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("changethis"))

    settings = _settings(
        pg_test_schema, first_admin_username="boss", first_admin_password=SecretStr("changethis"), development=True
    )
    assert init_users(settings).authenticate("boss", "changethis").role == "admin"


def test_the_users_table_never_holds_a_plain_password(users: UserStore) -> None:
    _new(users, "heidi")
    stored = users.get_for_login("heidi")
    assert stored is not None
    assert PASSWORD not in stored.hashed_password and stored.hashed_password.startswith("$argon2")
    assert hash_password(PASSWORD) != stored.hashed_password  # salted


@pytest.fixture(autouse=True)
def _no_typecheck_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings built here must not pick up a developer's own TYPECHECK_* variables."""
    import os

    for key in [k for k in os.environ if k.startswith("TYPECHECK_") and not k.startswith("TYPECHECK_TEST_")]:
        monkeypatch.delenv(key)
    yield
