"""The job contract: one versioned JSON message per validation, and the event that ends it.

A job names its file by URI (in the file store, or any place every worker can read);
the file itself never travels in a message. The version field ``v`` is checked first,
so a message from a newer publisher is dead-lettered with a clear reason rather than
half-understood.

Two versions travel on the queue: ``"v": 1`` is a whole file (what every caller
publishes), ``"v": 2`` one part of a file a worker split (:class:`ValidationPartJob`: the
v1 fields plus ``part``, a byte range and the row it starts at). Whole jobs stay v1, so
old and new publishers interoperate; a worker that reads v1 only refuses a part with its
"unknown job contract version 2" reason, which is why workers are upgraded before
splitting is turned on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_typecheck.registry.models import IMPORT_NAME_PATTERN

if TYPE_CHECKING:
    from airflow_provider_typecheck.validation.parts import FilePart

CONTRACT_VERSION = 1
PART_CONTRACT_VERSION = 2
READ_VERSIONS = (CONTRACT_VERSION, PART_CONTRACT_VERSION)
MAX_JOB_BYTES = 64 * 1024  # a job is a few hundred bytes; anything this big is not one


class InvalidJob(ValueError):
    """A message that is not a job this worker understands; ``reason`` says why in one line."""

    def __init__(self, reason: str, task_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task_id = task_id


# The job options that say which table of the file is checked (see JobOptions.table_options).
TABLE_OPTIONS = ("header_row", "cell_range", "columns", "strict_header")


class JobOptions(BaseModel):
    """How to read the file and what to write besides the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sheet: str | int | None = None
    delimiter: str | None = None
    encoding: str | None = None
    # Which table of the file, and how its header is named (the core's open_table options).
    header_row: Annotated[int, Field(ge=1)] | Literal["auto"] | None = None
    cell_range: str | None = Field(default=None, max_length=64)
    columns: tuple[str, ...] | None = None
    strict_header: bool = False
    max_errors: int = Field(default=1000, ge=0)
    write_invalid_rows: bool = False
    write_valid_rows: bool = False

    def table_options(self) -> dict[str, Any]:
        """The table options that are set, named as the core's ``validate_file`` takes them."""
        return {name: getattr(self, name) for name in TABLE_OPTIONS if getattr(self, name) not in (None, False)}


class ValidationJob(BaseModel):
    """The message on ``typecheck.validation`` (``"v": 1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = CONTRACT_VERSION
    task_id: UUID
    import_name: str = Field(pattern=IMPORT_NAME_PATTERN)
    schema_version: int = Field(ge=1)
    file_uri: str = Field(min_length=1)
    file_name: str = Field(min_length=1, max_length=255)
    options: JobOptions = Field(default_factory=JobOptions)
    submitted_by: str | None = None
    submitted_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    def to_body(self) -> bytes:
        return self.model_dump_json().encode()


class JobPart(BaseModel):
    """
    One part of a split file (the core's ``FilePart.to_dict()``): the byte range
    ``[start, end)`` holding ``rows`` records, the first of them on spreadsheet row ``first_row``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    first_row: int = Field(ge=1)
    rows: int = Field(ge=0)

    def file_part(self) -> FilePart:
        """The core's part: what ``validate_file(part=...)`` reads."""
        from airflow_provider_typecheck.validation.parts import FilePart

        return FilePart.from_dict(self.model_dump())

    @property
    def label(self) -> str:
        """How a person is told which part: ``part 3 of 8 (rows 2,001-3,000)``."""
        return self.file_part().describe()


class ValidationPartJob(ValidationJob):
    """A part of a split file (``"v": 2``): the whole job's fields, plus the part it checks."""

    v: Literal[2] = PART_CONTRACT_VERSION  # type: ignore[assignment]
    part: JobPart

    @classmethod
    def of(cls, job: ValidationJob, part: dict[str, Any]) -> ValidationPartJob:
        """The part job of ``job`` for ``part`` (a ``FilePart.to_dict()``)."""
        fields = job.model_dump()
        fields.pop("v")
        return cls(**fields, part=JobPart.model_validate(part))


class ValidationEvent(BaseModel):
    """The announcement of a finished task on ``typecheck.events``."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    import_name: str
    schema_version: int | None
    state: Literal["valid", "invalid", "failed"]
    summary: dict[str, Any] | None = None
    report_uri: str | None = None

    def to_body(self) -> bytes:
        return self.model_dump_json().encode()


def parse_job(body: bytes) -> ValidationJob:
    """
    Read a message body as a :class:`ValidationJob` (v1) or a :class:`ValidationPartJob` (v2).

    :raises InvalidJob: not JSON, not an object, an unknown version, or a field that does
        not fit; its ``task_id`` is set when the message names one, so the task can be failed.
    """
    if len(body) > MAX_JOB_BYTES:
        raise InvalidJob(f"message of {len(body)} bytes is larger than {MAX_JOB_BYTES}: not a job")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidJob(f"message is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidJob(f"message is a JSON {type(data).__name__}, not an object")
    task_id = _task_id_of(data)
    version = data.get("v")
    if type(version) is not int or version not in READ_VERSIONS:
        raise InvalidJob(f"unknown job contract version {version!r} (this worker reads v1 and v2)", task_id)
    model = ValidationJob if version == CONTRACT_VERSION else ValidationPartJob
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise InvalidJob(f"invalid job: {where}: {first['msg']} ({err.error_count()} error(s))", task_id) from None


def _task_id_of(data: dict[str, Any]) -> str | None:
    try:
        return str(UUID(str(data.get("task_id"))))
    except ValueError:
        return None
