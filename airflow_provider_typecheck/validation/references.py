"""References that never leave the schema.

Given no registry, python-jsonschema fetches a ``$ref`` it cannot find in the
schema with ``urlopen`` (http, https and file URIs alike), and it switches
draft wherever a subschema declares its own ``$schema``, so which ``$id``
moves the base URI is only known while validating. Every validator this
package builds comes from :func:`new_validator`, whose registry holds the
drafts' meta-schemas and refuses to retrieve anything else: whatever a schema
claims, a reference resolves inside it or fails, and nothing is ever fetched.
"""

from __future__ import annotations

from typing import Any

import referencing
import referencing.exceptions
from jsonschema_specifications import REGISTRY as META_SCHEMAS


class RetrievalRefused(Exception):
    """A reference named a document that is not part of the schema."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri!r} is not part of the schema: references are never fetched")
        self.uri = uri


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    raise RetrievalRefused(uri)


# python-jsonschema adds the meta-schemas to any registry it is given; they are added
# here too so the reference check resolves exactly as the validators do.
LOCAL_ONLY = META_SCHEMAS.combine(referencing.Registry(retrieve=_refuse_retrieval))  # type: ignore[call-arg]


def new_validator(cls: type, schema: Any, **kwargs: Any) -> Any:
    """A ``cls`` validator of ``schema`` whose references never leave it.

    ``evolve`` carries the registry along, so every subschema's validator,
    whatever draft its ``$schema`` picks, refuses retrieval too.
    """
    return cls(schema, registry=LOCAL_ONLY, **kwargs)


def refused_uri(error: referencing.exceptions.Unresolvable) -> str | None:
    """The document a failed resolution would have had to fetch, if that is why it failed."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, RetrievalRefused):
            return cause.uri
        cause = cause.__cause__ or getattr(cause, "_wrapped", None)
    return None
