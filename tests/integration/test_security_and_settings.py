"""Tokens, passwords and settings: pure code, no server (kept beside the stores they serve)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from airflow_provider_typecheck.registry.errors import AuthenticationError, ConfigurationError, InvalidToken
from airflow_provider_typecheck.registry.models import UserCreate, UserInDB, UserUpdate
from airflow_provider_typecheck.registry.security import (
    authenticate,
    create_access_token,
    decode_access_token,
    dummy_hash,
    hash_password,
    verify_password,
)
from airflow_provider_typecheck.settings import TypecheckSettings, get_settings

SECRET = "0123456789abcdef0123456789abcdef-test-only"


@pytest.fixture(autouse=True)
def _no_typecheck_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("TYPECHECK_") and not k.startswith("TYPECHECK_TEST_")]:
        monkeypatch.delenv(key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> TypecheckSettings:
    return TypecheckSettings(jwt_secret=SecretStr(SECRET), jwt_expire_minutes=5)


def test_a_token_carries_subject_role_version_and_expiry(settings: TypecheckSettings) -> None:
    token = create_access_token("alice-id", "admin", token_version=3, settings=settings)

    payload = decode_access_token(token, settings=settings)

    assert (payload.sub, payload.role, payload.ver) == ("alice-id", "admin", 3)
    assert payload.iat is not None and payload.exp - payload.iat == 5 * 60
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_an_expired_token_is_refused(settings: TypecheckSettings) -> None:
    token = create_access_token(
        "alice", "user", token_version=0, expires_delta=timedelta(minutes=-1), settings=settings
    )
    with pytest.raises(InvalidToken):
        decode_access_token(token, settings=settings)


@pytest.mark.parametrize(
    "forge",
    [
        lambda: jwt.encode(
            {"sub": "a", "role": "admin", "ver": 0, "exp": 2**40}, "another-secret-of-32-bytes-or-more", "HS256"
        ),
        lambda: jwt.encode({"sub": "a", "role": "admin", "ver": 0, "exp": 2**40}, None, algorithm="none"),
        lambda: jwt.encode({"sub": "a", "ver": 0, "exp": 2**40}, SECRET, algorithm="HS256"),
        lambda: jwt.encode({"role": "admin", "ver": 0, "exp": 2**40}, SECRET, algorithm="HS256"),
        lambda: jwt.encode({"sub": "a", "role": "admin", "ver": 0}, SECRET, algorithm="HS256"),
        lambda: jwt.encode({"sub": "a", "role": "root", "ver": 0, "exp": 2**40}, SECRET, algorithm="HS256"),
        lambda: jwt.encode({"sub": "a", "role": "admin", "exp": 2**40}, SECRET, algorithm="HS256"),
        lambda: "not.a.token",
    ],
    ids=["other-key", "alg-none", "no-role", "no-sub", "no-exp", "bad-role", "no-version", "garbage"],
)
def test_forged_or_incomplete_tokens_are_refused(settings: TypecheckSettings, forge) -> None:  # noqa: ANN001
    with pytest.raises(InvalidToken):
        decode_access_token(forge(), settings=settings)


def test_a_tampered_token_is_refused(settings: TypecheckSettings) -> None:
    header, body, signature = create_access_token("alice", "user", token_version=0, settings=settings).split(".")
    forged_body = jwt.utils.base64url_encode(b'{"sub":"alice","role":"admin","ver":0,"exp":9999999999}').decode()
    with pytest.raises(InvalidToken):
        decode_access_token(f"{header}.{forged_body}.{signature}", settings=settings)


def test_without_a_secret_no_token_is_issued_or_checked() -> None:
    bare = TypecheckSettings()
    with pytest.raises(ConfigurationError):
        create_access_token("alice", "user", token_version=0, settings=bare)
    with pytest.raises(ConfigurationError):
        decode_access_token("a.b.c", settings=bare)


def test_tokens_use_get_settings_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYPECHECK_JWT_SECRET", SECRET)
    assert decode_access_token(create_access_token("bob", "user", token_version=0)).sub == "bob"


def test_no_token_lives_longer_than_a_day(settings: TypecheckSettings) -> None:
    with pytest.raises(ValidationError):
        TypecheckSettings(jwt_expire_minutes=24 * 60 + 1)
    assert TypecheckSettings(jwt_expire_minutes=24 * 60).jwt_expire_minutes == 24 * 60
    with pytest.raises(ConfigurationError):
        create_access_token("alice", "user", token_version=0, expires_delta=timedelta(days=2), settings=settings)


@pytest.mark.parametrize(
    "secret", ["a" * 32, "ab" * 40, "abcdefgh" * 4, "0123456789abcdef" * 3, "0123456" * 6], ids=repr
)
def test_a_guessable_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="too easy to guess") as caught:
        TypecheckSettings(jwt_secret=SecretStr(secret))
    assert secret not in str(caught.value)


def test_random_secrets_are_accepted() -> None:
    for secret in (secrets.token_urlsafe(32), secrets.token_hex(16), SECRET):
        assert TypecheckSettings(jwt_secret=SecretStr(secret)).jwt_secret is not None


def test_settings_errors_never_echo_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused setting must not print the password (pydantic echoes the whole input by default)."""
    password = "changethis"
    monkeypatch.setenv("TYPECHECK_FIRST_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("TYPECHECK_FIRST_ADMIN_PASSWORD", password)
    monkeypatch.setenv("TYPECHECK_JWT_SECRET", SECRET)
    with pytest.raises(ValidationError) as caught:
        get_settings()
    assert "placeholder" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), str(caught.value.errors(include_input=False))):
        assert password not in text and SECRET not in text

    short = "short-secret-9"
    get_settings.cache_clear()
    monkeypatch.setenv("TYPECHECK_JWT_SECRET", short)
    with pytest.raises(ValidationError) as caught:
        get_settings()
    assert short not in str(caught.value)


def test_user_models_never_show_a_password_or_hash() -> None:
    password = "a secret password"
    for model in (UserCreate(username="alice", password=password), UserUpdate(password=password)):
        assert password not in repr(model) and password not in str(model)
        assert model.password is not None and model.password.get_secret_value() == password
    with pytest.raises(ValidationError) as caught:
        UserCreate(username="alice", password="2short")
    assert "2short" not in str(caught.value) and "8 to 128 characters" in str(caught.value)

    hashed = hash_password(password)
    stored = UserInDB(
        id="00000000-0000-0000-0000-000000000001",
        username="alice",
        role="user",
        is_active=True,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        hashed_password=hashed,
    )
    assert hashed not in repr(stored) and hashed not in str(stored)


_ARGON2_PARAMETERS = re.compile(r"^(\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$)")


def test_the_dummy_hash_costs_what_a_real_hash_costs() -> None:
    """An unknown user's login must do the same work as a known one's: same hasher, same parameters."""
    from airflow_provider_typecheck.registry import security

    real, dummy = hash_password("any password at all"), dummy_hash()

    real_parameters, dummy_parameters = _ARGON2_PARAMETERS.match(real), _ARGON2_PARAMETERS.match(dummy)
    assert real_parameters is not None and dummy_parameters is not None
    assert dummy_parameters.group(1) == real_parameters.group(1)
    assert len(dummy) == len(real)  # same salt and digest lengths
    assert security._password_hash.current_hasher.check_needs_rehash(dummy) is False


@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
def test_a_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError):
        TypecheckSettings(jwt_secret=SecretStr(secret))


@pytest.mark.parametrize("field", ["jwt_secret", "first_admin_password"])
def test_placeholders_are_refused_outside_development(field: str) -> None:
    value = "changethis" if field == "first_admin_password" else " " * 40
    with pytest.raises(ValidationError, match="placeholder"):
        TypecheckSettings(**{field: SecretStr(value)})
    assert TypecheckSettings(**{field: SecretStr(value)}, development=True).development


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = TypecheckSettings()

    assert (settings.mongo_conn_id, settings.postgres_conn_id, settings.redis_conn_id, settings.rabbitmq_conn_id) == (
        "mongo_default",
        "postgres_default",
        "redis_default",
        "rabbitmq_default",
    )
    assert (settings.schema_store, settings.postgres_schema, settings.jwt_secret) == ("mongo", "typecheck", None)
    assert settings.task_ttl_seconds == 7 * 24 * 3600
    assert (settings.max_upload_bytes, settings.max_errors) == (100 * 1024 * 1024, 1000)


def test_settings_come_from_typecheck_variables_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYPECHECK_SCHEMA_STORE", "postgres")
    monkeypatch.setenv("TYPECHECK_REDIS_CONN_ID", "my_redis")
    monkeypatch.setenv("TYPECHECK_MAX_ERRORS", "50")

    settings = get_settings()

    assert (settings.schema_store, settings.redis_conn_id, settings.max_errors) == ("postgres", "my_redis", 50)
    assert get_settings() is settings
    monkeypatch.setenv("TYPECHECK_SCHEMA_STORE", "cassandra")
    get_settings.cache_clear()
    with pytest.raises(ValidationError):
        get_settings()


@pytest.mark.parametrize("schema", ["Typecheck", "public; drop", "1abc", "a" * 64, ""])
def test_the_postgres_schema_must_be_a_plain_identifier(schema: str) -> None:
    with pytest.raises(ValidationError):
        TypecheckSettings(postgres_schema=schema)


def test_passwords_hash_with_argon2_and_verify() -> None:
    hashed = hash_password("a long enough password")

    assert hashed.startswith("$argon2id$")
    assert verify_password("a long enough password", hashed) == (True, None)
    assert verify_password("another password", hashed)[0] is False


def test_authenticate_checks_a_dummy_hash_for_unknown_users(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_typecheck.registry import security

    verified: list[str] = []
    real_verify = security.verify_password
    monkeypatch.setattr(security, "verify_password", lambda p, h: verified.append(h) or real_verify(p, h))

    with pytest.raises(AuthenticationError):
        authenticate(lambda username: None, "ghost", "whatever password")

    assert len(verified) == 1 and verified[0].startswith("$argon2")
