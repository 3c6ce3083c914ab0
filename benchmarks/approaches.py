"""The approaches the benchmark times, one function each, run inside a worker process.

Each function takes a ``Job`` and returns a ``Timing``: seconds spent reading,
seconds spent validating (plus building the report), how many rows it
validated, and the spreadsheet row numbers (header = 1) it found invalid.
Library imports happen inside the functions, before the clock starts, so a
worker only pays for what it uses and import time is never timed.

Row-by-row baselines read with Polars (all strings), turn rows into dicts
with ``contract.row_converter`` and call the validator per row.  When a job
has a ``sample`` they validate only the first ``sample`` rows; run.py then
extrapolates read + validate/row x total rows and says so in the table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    path: Path
    schema: dict
    sample: int | None = None  # validate only the first N rows
    sheet: int | str | None = None


@dataclass
class Timing:
    read_seconds: float
    validate_seconds: float
    rows_validated: int
    total_rows: int
    invalid_rows: list[int] | None = field(default_factory=list)  # None: not collected
    note: str = ""


def read_text_frame(path: Path):
    """All-strings read: the denominator of every ratio."""
    import polars as pl

    if path.suffix.lower() in (".xlsx", ".xls", ".xlsm", ".xlsb", ".ods"):
        import fastexcel

        return fastexcel.read_excel(str(path)).load_sheet(0, dtypes="string").to_polars()
    return pl.read_csv(path, infer_schema=False)


def _timed_read(job: Job):
    t0 = time.perf_counter()
    df = read_text_frame(job.path)
    read = time.perf_counter() - t0
    sample = df if job.sample is None else df.head(job.sample)
    return df.height, sample, read


def polars_read(job: Job) -> Timing:
    total, _, read = _timed_read(job)
    return Timing(read, 0.0, total, total, None)


def _row_by_row(job: Job, make_check: Callable[[dict], Callable[[dict], bool]]) -> Timing:
    """Shared loop: read, convert each row by the contract, ``is_valid(row)``."""
    from contract import row_converter

    is_valid = make_check(job.schema)
    total, frame, read = _timed_read(job)
    t0 = time.perf_counter()
    to_dict = row_converter(job.schema, frame.columns)
    invalid = [i + 2 for i, row in enumerate(frame.iter_rows()) if not is_valid(to_dict(row))]
    return Timing(read, time.perf_counter() - t0, frame.height, total, invalid)


def python_jsonschema(job: Job) -> Timing:
    """One Draft202012Validator built once and reused for every row."""
    from jsonschema import Draft202012Validator

    def make(schema):
        v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return v.is_valid

    return _row_by_row(job, make)


def jsonschema_rs(job: Job) -> Timing:
    import jsonschema_rs as rs

    def make(schema):
        return rs.Draft202012Validator(schema, validate_formats=True).is_valid

    return _row_by_row(job, make)


def fastjsonschema_(job: Job) -> Timing:
    """fastjsonschema compiles drafts 4/6/7; the benchmark schemas only use keywords shared with 2020-12."""
    import fastjsonschema

    def make(schema):
        check = fastjsonschema.compile(schema)  # format assertion is on by default
        error = fastjsonschema.JsonSchemaValueException

        def is_valid(row):
            try:
                check(row)
            except error:
                return False
            return True

        return is_valid

    return _row_by_row(job, make)


def seed_literal(job: Job) -> Timing:
    """The seed's code: ``jsonschema.validate`` per row in a ThreadPoolExecutor (MAX_WORKERS=8).

    ``jsonschema.validate`` re-checks the schema against the metaschema and
    builds a new validator on every call; the threads gain nothing under the GIL.
    """
    from concurrent.futures import ThreadPoolExecutor

    import jsonschema
    from contract import row_converter

    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    total, frame, read = _timed_read(job)
    t0 = time.perf_counter()
    to_dict = row_converter(job.schema, frame.columns)

    def check(numbered):
        i, row = numbered
        try:
            jsonschema.validate(to_dict(row), job.schema, format_checker=checker)
        except jsonschema.ValidationError:
            return i + 2
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        invalid = [r for r in pool.map(check, enumerate(frame.iter_rows())) if r is not None]
    return Timing(read, time.perf_counter() - t0, frame.height, total, invalid)


def _pandera_schema_and_casts(schema: dict):
    """A pandera-polars DataFrameSchema with the same constraints, plus the casts it needs first.

    pandera checks typed columns, so text is cast first (non-strict: a cell
    that does not parse becomes null and fails ``nullable=False``).  Differences
    from JSON Schema: "12.0" is not an Int64 (JSON Schema calls 12.0 an
    integer); format "email" is checked as "contains @" (python-jsonschema's
    rule); a bad cell in an optional non-nullable column would be missed.
    """
    import polars as pl
    import pandera.polars as pa

    required = set(schema.get("required", []))
    columns, casts = {}, {}
    for name, sub in schema["properties"].items():
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        main = next(t for t in types if t != "null")
        nullable = "null" in types or name not in required
        c = pl.col(name)
        checks = []
        if main in ("integer", "number"):
            dtype = pl.Int64 if main == "integer" else pl.Float64
            casts[name] = c.cast(dtype, strict=False)
            if "minimum" in sub:
                checks.append(pa.Check.ge(sub["minimum"]))
            if "maximum" in sub:
                checks.append(pa.Check.le(sub["maximum"]))
            if "exclusiveMaximum" in sub:
                checks.append(pa.Check.lt(sub["exclusiveMaximum"]))
        elif main == "boolean":
            dtype = pl.Boolean
            casts[name] = c.str.to_lowercase().replace_strict(
                {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
            )
        elif sub.get("format") == "date":
            dtype = pl.Date
            casts[name] = c.str.to_date("%Y-%m-%d", strict=False)
        else:
            dtype = pl.String
            lo, hi = sub.get("minLength"), sub.get("maxLength")
            if lo is not None or hi is not None:
                checks.append(pa.Check.str_length(lo, hi))
            if "enum" in sub:
                checks.append(pa.Check.isin(sub["enum"]))
            if "pattern" in sub:
                checks.append(pa.Check.str_matches(sub["pattern"]))
            if sub.get("format") == "email":
                checks.append(pa.Check.str_contains("@"))
        columns[name] = pa.Column(dtype, checks=checks, nullable=nullable)
    return pa.DataFrameSchema(columns, strict=True), casts


def pandera_polars(job: Job) -> Timing:
    import polars as pl
    import pandera.polars as pa

    pschema, casts = _pandera_schema_and_casts(job.schema)
    total, frame, read = _timed_read(job)
    t0 = time.perf_counter()
    typed = frame.with_columns(**casts)
    invalid: list[int] = []
    try:
        pschema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as e:
        idx = e.failure_cases.get_column("index").drop_nulls().unique().sort()
        invalid = (idx.cast(pl.Int64) + 2).to_list()
    return Timing(read, time.perf_counter() - t0, frame.height, total, invalid)


def _table_schema(schema: dict) -> dict:
    """A Frictionless Table Schema carrying the same constraints (Table Schema has its own semantics)."""
    required = set(schema.get("required", []))
    fields = []
    for name, sub in schema["properties"].items():
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        main = next(t for t in types if t != "null")
        f: dict = {"name": name, "type": main, "constraints": {}}
        cons = f["constraints"]
        if name in required and "null" not in types:
            cons["required"] = True
        if main == "boolean":
            f["trueValues"] = ["true", "True", "TRUE"]
            f["falseValues"] = ["false", "False", "FALSE"]
        if sub.get("format") == "date":
            f["type"] = "date"
        if sub.get("format") == "email":
            f["format"] = "email"
        for kw in ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum"):
            if kw in sub:
                cons[kw] = sub[kw]
        if "exclusiveMaximum" in sub:
            # frictionless 5 gates exclusiveMaximum behind Data Package v2 and
            # refuses it here; for doubles, x < m is exactly x <= nextafter(m, -inf)
            cons["maximum"] = math.nextafter(sub["exclusiveMaximum"], -math.inf)
        fields.append(f)
    return {"fields": fields}


def frictionless_(job: Job) -> Timing:
    """frictionless reads the file itself; the read column shows 0 and all time is in validate."""
    import frictionless

    table_schema = frictionless.Schema.from_descriptor(_table_schema(job.schema))
    t0 = time.perf_counter()
    # frictionless refuses absolute paths ("not safe"): give it a basepath instead
    resource = frictionless.Resource(path=job.path.name, basepath=str(job.path.parent), schema=table_schema)
    report = resource.validate(limit_rows=job.sample, limit_errors=10**9)
    task = report.tasks[0]
    not_row = [e for e in task.errors if getattr(e, "row_number", None) is None]
    if not_row:
        raise RuntimeError(f"frictionless: {not_row[0].message}")
    rows = {e.row_number for e in task.errors}
    seconds = time.perf_counter() - t0
    stats = report.tasks[0].stats
    validated = stats.get("rows") if isinstance(stats, dict) else getattr(stats, "rows", None)
    total = _count_rows(job.path)
    return Timing(0.0, seconds, validated or job.sample or total, total, sorted(rows))


def _count_rows(path: Path) -> int:
    import polars as pl

    return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()


def ours(job: Job) -> Timing:
    """Our engine in-process: read + validate + report with the first 1,000 errors."""
    from airflow_provider_typecheck.validation import validate_file

    t0 = time.perf_counter()
    report = validate_file(job.path, job.schema, max_errors=1000, sheet=job.sheet)
    report.to_dict()
    seconds = time.perf_counter() - t0
    return Timing(0.0, seconds, report.total_rows, report.total_rows, None, note=f"invalid={report.invalid_rows}")


def ours_invalid_rows(job: Job) -> Timing:
    """Not timed for the table: our full set of invalid rows, via ``invalid_out``, for the agreement check."""
    import tempfile

    import polars as pl
    from airflow_provider_typecheck.validation import validate_file

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "invalid.csv"
        t0 = time.perf_counter()
        report = validate_file(job.path, job.schema, max_errors=1000, invalid_out=out, sheet=job.sheet)
        seconds = time.perf_counter() - t0
        rows = pl.read_csv(out, infer_schema=False).get_column("_row").cast(pl.Int64).to_list() if out.exists() else []
    if len(rows) != report.invalid_rows:
        raise AssertionError(f"invalid_out has {len(rows)} rows but the report says {report.invalid_rows}")
    return Timing(0.0, seconds, report.total_rows, report.total_rows, sorted(rows))


APPROACHES: dict[str, Callable[[Job], Timing]] = {
    "polars_read": polars_read,
    "ours": ours,
    "ours_invalid_rows": ours_invalid_rows,
    "seed_literal": seed_literal,
    "python_jsonschema": python_jsonschema,
    "jsonschema_rs": jsonschema_rs,
    "fastjsonschema": fastjsonschema_,
    "pandera_polars": pandera_polars,
    "frictionless": frictionless_,
}
