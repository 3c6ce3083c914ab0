"""JSON Schemas per import name: upload (versioned), status, fetch, roll back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from airflow_provider_typecheck.api.deps import CurrentUser, ServicesDep
from airflow_provider_typecheck.api.models import (
    SchemaEntryOut,
    SchemaListOut,
    SchemaRemoveOut,
    SchemaStatusOut,
    SchemaUploadOut,
    SchemaVersionOut,
)
from airflow_provider_typecheck.api.responses import AUTH, errors
from airflow_provider_typecheck.registry.models import PutOutcome, SchemaWriter, UserPublic

router = APIRouter(prefix="/schemas", tags=["schemas"])

ImportName = Annotated[str, Path(description="Letters, digits, `_ . -`; 1 to 128.")]


@router.post(
    "/upload/{import_name}",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": SchemaUploadOut, "description": "Identical to the active version: nothing stored."},
               **errors(*AUTH, 403, 413)},
)
def upload_schema(
    import_name: ImportName,
    schema: Annotated[dict[str, Any], Body(description="The JSON Schema itself.")],
    user: CurrentUser,
    services: ServicesDep,
    response: Response,
    new: Annotated[bool, Query(description="Add a version (true) or replace the active one (false).")] = False,
) -> SchemaUploadOut:
    """
    Store a JSON Schema as the active version of ``import_name``. An invalid schema is
    a 422 whose ``detail`` names the failing keyword and its JSON pointer. The user who
    creates an import name owns it: a new version or a replacement by anyone but its
    owner or an admin is a 403.
    """
    result = services.schemas.put(import_name, schema, new_version=new, actor=user.username, writer=_writer(user))
    if result.outcome is PutOutcome.UNCHANGED:
        response.status_code = status.HTTP_200_OK
    return SchemaUploadOut(import_name=result.import_name, version=result.version, status=result.outcome.value)


@router.get("/status", responses=errors(*AUTH, 404))
def schema_status(
    services: ServicesDep,
    user: CurrentUser,
    import_name: str | None = None,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> SchemaStatusOut | SchemaListOut:
    """One import's versions, or (without ``import_name``) a page of every import."""
    if import_name is not None:
        found = services.schemas.status(import_name)
        return SchemaStatusOut(
            import_name=found.import_name,
            active_version=found.active_version,
            versions=[
                SchemaVersionOut(version=v.version, created_at=v.created_at, created_by=v.created_by)
                for v in found.versions
            ],
        )
    page = services.schemas.list(skip=skip, limit=limit)
    return SchemaListOut(
        data=[SchemaEntryOut.model_validate(entry.model_dump()) for entry in page.items], count=page.total
    )


@router.get("/{import_name}", responses=errors(*AUTH, 404))
def get_schema(
    import_name: ImportName,
    services: ServicesDep,
    user: CurrentUser,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """The schema itself: the active version, or the one named."""
    return services.schemas.active(import_name, version).schema


@router.delete("/remove/{import_name}", responses=errors(*AUTH, 403, 404))
def remove_schema(import_name: ImportName, services: ServicesDep, user: CurrentUser) -> SchemaRemoveOut:
    """
    Roll back to the previous version; removing the only version deletes the import
    (and frees its name). Only the schema's owner and admins may; 403 for anyone else.
    """
    result = services.schemas.remove(import_name, writer=_writer(user))
    return SchemaRemoveOut(
        import_name=result.import_name,
        status="deleted" if result.active_version is None else "rolled_back",
        active_version=result.active_version,
    )


def _writer(user: UserPublic) -> SchemaWriter:
    return SchemaWriter(user_id=str(user.id), is_admin=user.role == "admin")
