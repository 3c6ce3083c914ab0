"""The job contract: whole jobs stay v1, parts of a split file are v2, and what a v1 worker says to v2."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_provider_typecheck.jobs.contract import (
    InvalidJob,
    JobOptions,
    ValidationJob,
    ValidationPartJob,
    parse_job,
)

PART = {"index": 2, "count": 8, "start": 1000, "end": 2000, "first_row": 101, "rows": 50}


def test_a_part_is_the_cores_file_part() -> None:
    from airflow_provider_typecheck.validation.parts import FilePart

    core = FilePart(**PART)
    part = ValidationPartJob.of(_job(), core.to_dict()).part
    assert FilePart.from_dict(part.model_dump()) == core
    assert part.label == core.describe()


def _job() -> ValidationJob:
    return ValidationJob(task_id=uuid.uuid4(), import_name="users", schema_version=3,
                         file_uri="file:///srv/big.csv", file_name="big.csv",
                         options=JobOptions(write_invalid_rows=True, max_errors=10, delimiter=";"))


def test_a_whole_job_is_still_v1_and_reads_back_as_one() -> None:
    job = _job()
    body = json.loads(job.to_body())

    assert body["v"] == 1 and "part" not in body
    parsed = parse_job(job.to_body())
    assert type(parsed) is ValidationJob and parsed == job


def test_a_part_job_is_v2_with_the_whole_jobs_fields_and_its_range() -> None:
    job = _job()
    part = ValidationPartJob.of(job, PART)
    body = json.loads(part.to_body())

    assert body["v"] == 2 and body["part"] == PART
    assert {k: v for k, v in body.items() if k not in ("v", "part")} == \
        {k: v for k, v in json.loads(job.to_body()).items() if k != "v"}
    parsed = parse_job(part.to_body())
    assert type(parsed) is ValidationPartJob and parsed == part
    assert parsed.part.label == "part 3 of 8 (rows 101-150)"


@pytest.mark.parametrize("change, where", [
    ({"part": None}, "part"),
    ({"part": {**PART, "index": -1}}, "part.index"),
    ({"part": {**PART, "extra": 1}}, "part.extra"),
    ({"part": {k: v for k, v in PART.items() if k != "rows"}}, "part.rows"),
])
def test_a_part_job_with_a_bad_part_is_refused_naming_the_field(change: dict[str, Any], where: str) -> None:
    body = {**json.loads(ValidationPartJob.of(_job(), PART).to_body()), **change}
    if body["part"] is None:
        del body["part"]

    with pytest.raises(InvalidJob) as refused:
        parse_job(json.dumps(body).encode())
    assert refused.value.reason.startswith(f"invalid job: {where}:")
    assert refused.value.task_id == body["task_id"]


def test_a_v1_job_may_not_carry_a_part() -> None:
    body = {**json.loads(_job().to_body()), "part": PART}

    with pytest.raises(InvalidJob, match="invalid job: part: Extra inputs"):
        parse_job(json.dumps(body).encode())


@pytest.mark.parametrize("version", [3, 0, "2", True, None])
def test_unknown_versions_are_refused_with_the_versions_this_worker_reads(version: Any) -> None:
    body = {**json.loads(_job().to_body()), "v": version}

    with pytest.raises(InvalidJob) as refused:
        parse_job(json.dumps(body).encode())
    assert refused.value.reason == f"unknown job contract version {version!r} (this worker reads v1 and v2)"


def test_the_whole_job_model_does_not_take_a_part_for_a_whole_file() -> None:
    # A part read as a whole job would validate the whole file once per part.
    body = json.loads(ValidationPartJob.of(_job(), PART).to_body())

    with pytest.raises(ValueError) as refused:
        ValidationJob.model_validate(body)
    assert {error["loc"][0] for error in refused.value.errors()} == {"v", "part"}
