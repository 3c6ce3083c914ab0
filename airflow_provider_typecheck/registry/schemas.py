"""The schema registry's interface: versioned JSON Schemas per import name, and their preparation.

One interface, :class:`SchemaStore`, two backends: :mod:`.mongo_schemas`
(:class:`~.mongo_schemas.MongoSchemaStore`) and :mod:`.postgres_schemas`
(:class:`~.postgres_schemas.PostgresSchemaStore`); the composition root
(:mod:`airflow_provider_typecheck.services`) picks one from the settings and wraps it
in the Redis cache (:mod:`.cache`). :func:`prepare_schema` is what every backend
stores: the schema checked by the core, its exact text and its fingerprint.

The active version of an import name is always its newest; :meth:`SchemaStore.remove`
rolls back to the one before. Version numbers are never reused for an import name,
not even after its last version was removed and the name uploaded again (the entry
stays behind as a tombstone holding the next number), so "version 3" in an old task
status always means the schema it was checked against (unless version 3 was later
replaced in place, which the caller asked for). Writers that must not undo someone
else's change pass ``expected_version``: the write happens only if that version is
still the active one (:class:`~.errors.VersionConflict` otherwise).

Both backends are safe with concurrent writers and need no multi-document
transactions: MongoDB by compare-and-swap on a revision counter in the entry
document, PostgreSQL by locking the import name's row for the length of the write.

Schemas are stored as JSON text beside any structured copy, so keys MongoDB refuses
(``$ref``, ``$id``, ``a.b``) and key order round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from typing import Any

from airflow_provider_typecheck.registry.errors import (
    InvalidImportName,
    InvalidInput,
    InvalidSchema,
    SchemaForbidden,
    VersionConflict,
)
from airflow_provider_typecheck.registry.models import (
    PutResult,
    RemoveResult,
    SchemaPage,
    SchemaStatus,
    SchemaVersion,
    SchemaWriter,
    is_valid_import_name,
)
from airflow_provider_typecheck.validation.limits import DEFAULT_MAX_SCHEMA_BYTES, DEFAULT_MAX_SCHEMA_DEPTH

MAX_PAGE_SIZE = 1000
DEFAULT_PING_TIMEOUT_SECONDS = 2.0


class PreparedSchema:
    """A schema that passed meta-validation, with its stored forms."""

    __slots__ = ("draft", "fingerprint", "source")

    def __init__(self, source: str, fingerprint: str, draft: str) -> None:
        self.source = source
        self.fingerprint = fingerprint
        self.draft = draft


def validate_import_name(import_name: object) -> str:
    """Return ``import_name`` if legal, else raise :class:`InvalidImportName`."""
    if not is_valid_import_name(import_name):
        raise InvalidImportName(f"invalid import name {import_name!r}: expected ^[A-Za-z0-9_.-]{{1,128}}$")
    return import_name  # type: ignore[return-value]


def prepare_schema(
    schema: object, *, max_bytes: int = DEFAULT_MAX_SCHEMA_BYTES, max_depth: int = DEFAULT_MAX_SCHEMA_DEPTH
) -> PreparedSchema:
    """
    Check ``schema`` with the core (size, depth, meta-validation) and compute what the
    stores keep.

    The core checks the size and depth before anything recursive walks the schema, so
    a schema 10,000 levels deep is refused without exhausting Python's stack. The
    fingerprint hashes the schema with sorted keys, so re-uploading the same schema
    with its keys in another order is "unchanged".

    :param max_bytes: longest schema as compact JSON (``TYPECHECK_MAX_SCHEMA_BYTES``).
    :param max_depth: deepest nesting of objects and arrays (``TYPECHECK_MAX_SCHEMA_DEPTH``).
    """
    # Imported here: the core pulls in jsonschema (and polars), which the registry's
    # importers (DAG files, the API) should not pay for until they store a schema.
    from airflow_provider_typecheck.validation.errors import SchemaError
    from airflow_provider_typecheck.validation.schema import check_schema

    try:
        draft = check_schema(schema, max_bytes=max_bytes, max_depth=max_depth)
    except SchemaError as exc:
        raise InvalidSchema(exc.message, exc.pointer) from exc
    except RecursionError:
        raise InvalidSchema("the schema's references or keywords nest too deep to check", "") from None
    source = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    canonical = json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True)
    return PreparedSchema(source, hashlib.sha256(canonical.encode()).hexdigest(), draft)


def check_page(skip: int, limit: int) -> None:
    if skip < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"need skip >= 0 and 0 < limit <= {MAX_PAGE_SIZE}")


def check_prefix(prefix: str) -> None:
    if prefix and not is_valid_import_name(prefix):
        raise InvalidImportName(f"invalid prefix {prefix!r}")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def check_expected(import_name: str, expected: int | None, active: int | None) -> None:
    if expected is not None and expected != active:
        now = "has no version" if active is None else f"is at version {active}"
        raise VersionConflict(f"schema {import_name!r} {now}, not the expected version {expected}")


def check_writer(import_name: str, writer: SchemaWriter | None, owner: str | None) -> None:
    """Refuse a change of an import name that has versions by someone who may not change it."""
    if writer is not None and not writer.may_change(owner):
        raise SchemaForbidden(f"only the schema's owner or an admin may change {import_name!r}")


def backoff(attempt: int) -> None:
    # Jittered so that writers who collided do not collide again in lockstep.
    time.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))


class SchemaStore(ABC):
    """
    Versioned schemas per import name.

    Every method validates ``import_name`` first (:class:`InvalidImportName`);
    methods that read one entry raise :class:`SchemaNotFound` when it is absent.
    """

    max_schema_bytes: int = DEFAULT_MAX_SCHEMA_BYTES
    max_schema_depth: int = DEFAULT_MAX_SCHEMA_DEPTH

    def _prepare(self, schema: object) -> PreparedSchema:
        return prepare_schema(schema, max_bytes=self.max_schema_bytes, max_depth=self.max_schema_depth)

    @abstractmethod
    def put(
        self,
        import_name: str,
        schema: dict[str, Any],
        *,
        new_version: bool,
        actor: str | None,
        expected_version: int | None = None,
        writer: SchemaWriter | None = None,
    ) -> PutResult:
        """
        Store ``schema`` as the active version of ``import_name``.

        Creates the entry if absent (version 1, or the next number if the name had
        versions once). If the schema equals the active one, nothing is written
        (``unchanged``). Otherwise ``new_version=True`` adds a version and makes it
        active; ``new_version=False`` replaces the active version in place.

        :param expected_version: write only if this is the active version now.
        :param writer: who writes: the owner of a name it creates; for a name that has
            versions, refused unless it is the owner or an admin (checked under the
            write's own lock). None checks nothing.
        :raises InvalidSchema: too big, too deep, or refused by the core's meta-validation.
        :raises VersionConflict: ``expected_version`` is not the active version.
        :raises SchemaForbidden: ``writer`` may not change this schema.
        """

    @abstractmethod
    def active(self, import_name: str, version: int | None = None) -> SchemaVersion:
        """Return the active version, or the given ``version`` if one is named."""

    @abstractmethod
    def status(self, import_name: str) -> SchemaStatus:
        """Return the active version number and every version's metadata, oldest first."""

    @abstractmethod
    def list(self, prefix: str = "", skip: int = 0, limit: int = 100) -> SchemaPage:
        """Return one page of entries whose import name starts with ``prefix``, by name."""

    @abstractmethod
    def remove(
        self, import_name: str, *, expected_version: int | None = None, writer: SchemaWriter | None = None
    ) -> RemoveResult:
        """
        Roll back: drop the active version and make the previous one active; after the
        last one the name is gone (``SchemaNotFound``) but its version numbers stay used.

        :param expected_version: remove only if this is the active version now, so two
            callers rolling back at once cannot remove two versions.
        :param writer: refused unless the owner or an admin (None checks nothing).
        :raises VersionConflict: ``expected_version`` is not the active version.
        :raises SchemaForbidden: ``writer`` may not change this schema.
        """

    @abstractmethod
    def ping(self, timeout: float = DEFAULT_PING_TIMEOUT_SECONDS) -> None:
        """Check that the backend answers within about ``timeout`` seconds; raise if not."""

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release any client held by the store."""
