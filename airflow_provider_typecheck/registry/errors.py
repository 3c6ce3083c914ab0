"""The errors the stores raise, one class per thing a caller may want to handle.

The REST API maps them to status codes (``NotFound`` -> 404, ``Conflict`` -> 409,
``InvalidInput`` -> 422, ``AuthenticationError`` -> 401, ``Forbidden`` -> 403), so each says
which kind it is.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error raised by the stores."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RegistryError):
    """The thing asked for does not exist."""


class Conflict(RegistryError):
    """The request contradicts what is stored (a duplicate, or a refused change)."""


class InvalidInput(RegistryError):
    """An argument is malformed (a name, a schema, a field)."""


class Forbidden(RegistryError):
    """The caller may not do this to that thing (not its owner, not an admin)."""


class SchemaForbidden(Forbidden):
    """A schema's new version, replacement or removal by someone who neither owns it nor is an admin."""


class ConfigurationError(RegistryError):
    """A setting needed by this operation is missing or unsafe."""


class WeakPassword(InvalidInput):
    """A new password is too short or too easy to guess (see :func:`.security.check_password_strength`)."""


class InvalidImportName(InvalidInput):
    """An import name does not match ``^[A-Za-z0-9_.-]{1,128}$``."""


class InvalidSchema(InvalidInput):
    """A schema failed the core's meta-validation; ``pointer`` locates the fault in it."""

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.pointer = pointer


class SchemaNotFound(NotFound):
    """No schema (or no such version) is stored under an import name."""


class VersionConflict(Conflict):
    """The caller's ``expected_version`` is no longer the active version: someone else wrote first."""


class ConcurrentUpdate(Conflict):
    """An optimistic update lost its race too many times in a row; retrying later is safe."""


class CacheUnavailable(RegistryError):
    """The schema cache (Redis) cannot be invalidated, so a schema write was refused before it wrote."""


class UserNotFound(NotFound):
    """No user has that id or username."""


class UserExists(Conflict):
    """A user with that username already exists."""


class LastAdminError(Conflict):
    """The change would leave no active admin."""


class AuthenticationError(RegistryError):
    """Wrong username or password, or an inactive account: deliberately one error for all."""


class InvalidToken(AuthenticationError):
    """A JWT is malformed, expired, or not signed with our secret."""


class TaskNotFound(NotFound):
    """No task status under that id (never created, or expired)."""


class TaskExists(Conflict):
    """A task status with that id already exists."""


class IllegalTransition(Conflict):
    """A task cannot move from its current state to the one asked for."""

    def __init__(self, task_id: str, current: str, target: str) -> None:
        super().__init__(f"task {task_id!r} cannot go from {current!r} to {target!r}")
        self.task_id = task_id
        self.current = current
        self.target = target
