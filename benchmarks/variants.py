"""Shapes of the users file and schema that mean the same to a reader, for the fast-path benchmark.

    python benchmarks/variants.py --rows 1000000      # writes them beside the users file

Each variant is a (CSV, schema) pair: the file quoted, with CRLF line ends or one
ragged row; the schema as draft-04, wrapped in a root ``allOf``, with its
properties behind ``$ref``s to ``$defs``, or with ``type`` lists that add ``null``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from datagen import DATA_DIR, dataset_paths, ensure_datasets, users_schema  # noqa: E402

VARIANTS = ("plain", "quoted", "crlf", "ragged", "draft04", "allof", "ref", "nullable")
# The row (1-based among data rows) the ragged variant cuts short.
RAGGED_ROW = 500_000


def draft04_schema() -> dict:
    schema = copy.deepcopy(users_schema())
    schema["$schema"] = "http://json-schema.org/draft-04/schema#"
    score = schema["properties"]["score"]
    score["maximum"] = score.pop("exclusiveMaximum")
    score["exclusiveMaximum"] = True
    return schema


def allof_schema() -> dict:
    inner = users_schema()
    dialect = inner.pop("$schema")
    return {"$schema": dialect, "title": inner.pop("title"), "allOf": [inner]}


def ref_schema() -> dict:
    schema = users_schema()
    defs = schema["properties"]
    schema["properties"] = {name: {"$ref": f"#/$defs/{name}"} for name in defs}
    schema["$defs"] = defs
    return schema


def nullable_schema() -> dict:
    schema = users_schema()
    for name in ("name", "age", "score", "signup_date"):
        sub = schema["properties"][name]
        sub["type"] = [sub["type"], "null"]
    return schema


SCHEMAS = {"draft04": draft04_schema, "allof": allof_schema, "ref": ref_schema, "nullable": nullable_schema}


def variant_paths(rows: int, data_dir: Path = DATA_DIR) -> dict[str, tuple[Path, Path]]:
    """Each variant's (CSV, schema) paths."""
    users = dataset_paths(rows, data_dir)["users"]
    schema = users.parent / "users.schema.json"
    out = {}
    for name in VARIANTS:
        csv = users.with_name(f"{users.stem}_{name}.csv") if name in ("quoted", "crlf", "ragged") else users
        out[name] = (csv, users.parent / f"users_{name}.schema.json" if name in SCHEMAS else schema)
    return out


def write_variants(rows: int, data_dir: Path = DATA_DIR) -> dict[str, tuple[Path, Path]]:
    import polars as pl

    ensure_datasets(rows, data_dir)
    paths = variant_paths(rows, data_dir)
    users = dataset_paths(rows, data_dir)["users"]
    for name, (csv, schema) in paths.items():
        if name in SCHEMAS:
            schema.write_text(json.dumps(SCHEMAS[name](), indent=2))
        if csv == users or csv.exists():
            continue
        if name == "quoted":
            pl.read_csv(users, infer_schema=False).write_csv(csv, quote_style="always")
        elif name == "crlf":
            csv.write_bytes(users.read_bytes().replace(b"\n", b"\r\n"))
        elif name == "ragged":
            lines = users.read_bytes().split(b"\n")
            row = min(RAGGED_ROW, len(lines) - 2)
            lines[row] = lines[row].rsplit(b",", 1)[0]
            csv.write_bytes(b"\n".join(lines))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    for name, (csv, schema) in write_variants(args.rows).items():
        print(f"{name}: {csv.name} {schema.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
