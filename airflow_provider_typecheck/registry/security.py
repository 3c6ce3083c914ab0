"""Passwords and tokens: pure functions, no database.

* Passwords are hashed with Argon2 (pwdlib); :func:`verify_password` also says when a
  stored hash should be upgraded to the current parameters.
* Access tokens are JWTs signed with HS256 and carry ``sub`` (the user's id, which
  never changes, unlike a username that may be freed and taken again), ``role``,
  ``ver`` (the user's token version), ``iat`` and ``exp``. A signature proves only
  that we issued the token: :meth:`.users.UserStore.user_for_token` checks the user
  and its token version against the database on every request. The secret comes from
  ``TYPECHECK_JWT_SECRET`` (see the settings for what is refused); without one, tokens
  can be neither issued nor checked. No token lives longer than
  :data:`~airflow_provider_typecheck.settings.MAX_JWT_EXPIRE_MINUTES`.
* :func:`authenticate` gives one error for every failure and, for an unknown user,
  still verifies against a dummy hash, so response time does not reveal which
  usernames exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from airflow_provider_typecheck.registry.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidToken,
    WeakPassword,
)
from airflow_provider_typecheck.registry.models import TokenPayload, UserInDB

if TYPE_CHECKING:
    from airflow_provider_typecheck.settings import TypecheckSettings

ALGORITHM = "HS256"
_password_hash = PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


# zxcvbn's score: 0 and 1 are fewer than a million guesses (a top-10,000 password, a
# word and a digit); 2 needs about 10^6 to 10^8. With login throttling in front, that
# is what an online attacker cannot get through.
MIN_PASSWORD_SCORE = 2
# zxcvbn refuses longer inputs (its matching is quadratic); past this the rest only adds strength.
_STRENGTH_CHARS = 72


def check_password_strength(password: str, *, username: str | None = None) -> None:
    """
    Refuse a new password that is short or easy to guess.

    The estimate is zxcvbn's (Dropbox's estimator, the ``zxcvbn`` package): it matches
    the password against the common-password, English-word and name lists the package
    ships, keyboard patterns, dates, repeats and sequences, and the ``username`` itself.

    :raises WeakPassword: with zxcvbn's own hint, never the password.
    """
    from airflow_provider_typecheck.registry.models import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    from zxcvbn import zxcvbn

    inputs = [username] if username else []
    estimate = zxcvbn(password[:_STRENGTH_CHARS], user_inputs=inputs)
    if estimate["score"] < MIN_PASSWORD_SCORE:
        feedback = estimate.get("feedback") or {}
        hints = " ".join(part for part in [feedback.get("warning"), *feedback.get("suggestions", [])] if part)
        raise WeakPassword(f"the password is too easy to guess{': ' + hints if hints else ''}")


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Return whether ``password`` matches, and a new hash if the stored one is outdated."""
    return _password_hash.verify_and_update(password, hashed)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of a random password, made like every real one (same hasher, same parameters).

    Verifying an unknown user's password against it costs what a real check costs.
    Built on first use rather than at import: hashing is deliberately slow.
    """
    return hash_password(secrets.token_urlsafe(16))


def authenticate(
    find_user: Callable[[str], UserInDB | None], username: str, password: str
) -> tuple[UserInDB, str | None]:
    """
    Check ``username`` and ``password``; return the user and a rehash to store, if any.

    :param find_user: looks a user up by username (case-insensitively), None if unknown.
    :raises AuthenticationError: for an unknown user, a wrong password or an inactive
        account alike, with the same message, after the same work.
    """
    user = find_user(username)
    if user is None:
        verify_password(password, dummy_hash())
        raise AuthenticationError("incorrect username or password")
    matches, new_hash = verify_password(password, user.hashed_password)
    if not matches or not user.is_active:
        raise AuthenticationError("incorrect username or password")
    return user, new_hash


def _secret(settings: TypecheckSettings | None) -> str:
    if settings is None:
        from airflow_provider_typecheck.settings import get_settings

        settings = get_settings()
    if settings.jwt_secret is None:
        raise ConfigurationError("TYPECHECK_JWT_SECRET is not set: tokens can be neither issued nor checked")
    return settings.jwt_secret.get_secret_value()


def create_access_token(
    subject: str,
    role: str,
    *,
    token_version: int,
    expires_delta: timedelta | None = None,
    settings: TypecheckSettings | None = None,
) -> str:
    """
    Sign a token for ``subject`` (a user's id) with its ``role`` and token version.

    The API issues tokens through :meth:`.users.UserStore.issue_access_token`, which
    reads the current token version; this is the signing alone.

    :param token_version: the user's ``token_version`` now; a later change refuses the token.
    :param expires_delta: lifetime; defaults to ``TYPECHECK_JWT_EXPIRE_MINUTES``.
    :param settings: defaults to :func:`~airflow_provider_typecheck.settings.get_settings`.
    :raises ConfigurationError: no secret, or a lifetime past ``MAX_JWT_EXPIRE_MINUTES``.
    """
    from airflow_provider_typecheck.settings import MAX_JWT_EXPIRE_MINUTES, get_settings

    secret = _secret(settings)
    if expires_delta is None:
        expires_delta = timedelta(minutes=(settings or get_settings()).jwt_expire_minutes)
    if expires_delta > timedelta(minutes=MAX_JWT_EXPIRE_MINUTES):
        raise ConfigurationError(f"an access token may live {MAX_JWT_EXPIRE_MINUTES} minutes at most")
    now = datetime.now(timezone.utc)
    claims = {"sub": subject, "role": role, "ver": token_version, "iat": now, "exp": now + expires_delta}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, settings: TypecheckSettings | None = None) -> TokenPayload:
    """
    Verify a token's signature and expiry and return its claims.

    This checks the token alone; :meth:`.users.UserStore.user_for_token` then checks
    that its user still exists, is active and has the same token version.

    :raises InvalidToken: expired, tampered with, signed with another key or algorithm,
        or missing ``sub``/``role``/``ver``/``exp``.
    """
    secret = _secret(settings)
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role", "ver"]}
        )
        return TokenPayload.model_validate(claims)
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken("could not validate credentials") from exc
