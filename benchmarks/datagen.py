"""Deterministic benchmark data: users.csv, wide.csv, users.xlsx and a streamed big CSV.

Every generator is vectorised (numpy picks, polars string expressions) and
seeded, so two runs with the same seed and row count write byte-identical
files.  Cells are written as text; an empty cell is a CSV null (a bare empty
field) or, in XLSX, a cell that is not written at all.

Defects: about 2% of rows carry exactly one defect, spread over columns and
kinds.  ``users`` also writes ``<name>.defects.parquet`` (spreadsheet row
number, column, defect kind) so the benchmark can check any validator against
ground truth, not only against another validator.

Run ``python benchmarks/datagen.py --help`` to generate files by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import polars as pl

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20260101
DEFECT_RATE = 0.02
XLSX_ROWS = 100_000

COUNTRIES = [
    "AR", "AU", "BR", "CA", "CL", "CN", "CO", "DE", "ES", "FR",
    "GB", "IN", "IT", "JP", "KR", "MX", "NL", "PE", "SE", "US",
]
FIRST_NAMES = [
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Fabio", "Gina", "Hugo", "Iris", "Jorge",
    "Karla", "Luis", "Marta", "Nico", "Olga", "Pablo", "Quinn", "Rosa", "Sergio", "Tania",
    "Ugo", "Vera", "Walter", "Ximena", "Yago", "Zoe", "Amir", "Bea", "Chen", "Dana",
]
LAST_NAMES = [
    "Garcia", "Smith", "Rossi", "Muller", "Dubois", "Silva", "Kim", "Tanaka", "Novak", "Lopez",
    "Brown", "Costa", "Jensen", "Ivanova", "Okafor", "Haddad", "Nguyen", "Perez", "Khan", "Moreau",
    "Santos", "Weber", "Kowalski", "Ferreira", "Reyes", "Larsen", "Sato", "Gomez", "Ali", "Baker",
]
PLANS = ["free", "pro", "team"]
BOOLEAN_SPELLINGS = ["true", "false", "True", "FALSE"]

USERS_COLUMNS = [
    "id", "name", "email", "age", "score", "country",
    "signup_date", "active", "plan", "referrer",
]

# kind -> (column, JSON Schema keyword that rejects it)
USERS_DEFECTS: dict[str, tuple[str, str]] = {
    "id_not_integer": ("id", "type"),
    "id_zero": ("id", "minimum"),
    "name_empty": ("name", "required"),
    "name_too_long": ("name", "maxLength"),
    "email_no_at": ("email", "format"),
    "email_empty": ("email", "required"),
    "age_151": ("age", "maximum"),
    "age_negative": ("age", "minimum"),
    "age_text": ("age", "type"),
    "score_100": ("score", "exclusiveMaximum"),
    "country_unknown": ("country", "enum"),
    "date_feb_30": ("signup_date", "format"),
    "active_yes": ("active", "type"),
    "plan_unknown": ("plan", "pattern"),
    "plan_one_digit": ("plan", "pattern"),
}
DEFECT_KINDS = list(USERS_DEFECTS)

WIDE_COLUMNS = 100


def users_schema() -> dict:
    """The users JSON Schema: exactly the keywords the speed issue lists, plus ``required``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "users",
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "email": {"type": "string", "format": "email"},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "score": {"type": "number", "exclusiveMaximum": 100},
            "country": {"type": "string", "enum": COUNTRIES},
            "signup_date": {"type": "string", "format": "date"},
            "active": {"type": "boolean"},
            "plan": {"type": "string", "pattern": "^(free|pro|team)-[0-9]{2}$"},
            "referrer": {"type": ["string", "null"]},
        },
        "required": [c for c in USERS_COLUMNS if c != "referrer"],
        "additionalProperties": False,
    }


def _wide_kind(i: int) -> str:
    return ("integer", "number", "string")[i % 3]


def wide_schema() -> dict:
    """100 columns in the seed's style: integer, number and string columns with type and min/max."""
    props = {}
    for i in range(WIDE_COLUMNS):
        kind = _wide_kind(i)
        if kind == "string":
            props[f"c{i:03d}"] = {"type": "string", "minLength": 1, "maxLength": 20}
        else:
            props[f"c{i:03d}"] = {"type": kind, "minimum": 0, "maximum": 1000}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wide",
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _pick(rng: np.random.Generator, values: list[str], n: int) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(rng.integers(0, len(values), n))


BLOCK_ROWS = 100_000


def users_frame(n: int, *, offset: int = 0, seed: int = SEED) -> pl.DataFrame:
    """Rows ``offset .. offset+n-1`` of the users data, all columns as text.

    Rows are drawn in blocks of BLOCK_ROWS, each seeded by (seed, block
    number), so a row's content depends only on its position: users_100000 is
    exactly the first 100,000 rows of users_1000000 (and of the big file).
    """
    if offset % BLOCK_ROWS:
        raise ValueError(f"offset must be a multiple of {BLOCK_ROWS}")
    blocks = []
    for start in range(offset, offset + n, BLOCK_ROWS):
        # always draw a whole block, then cut: numpy streams depend on the draw sizes
        blocks.append(_users_block(BLOCK_ROWS, start, seed).head(offset + n - start))
    return pl.concat(blocks) if len(blocks) > 1 else blocks[0]


def _users_block(n: int, offset: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng([seed, offset // BLOCK_ROWS])
    ids = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
    first = _pick(rng, FIRST_NAMES, n)
    last = _pick(rng, LAST_NAMES, n)
    cents = rng.integers(0, 10_000, n)  # score in [0, 99.99]: never reaches the exclusive maximum
    days = rng.integers(0, 9_500, n).astype("timedelta64[D]") + np.datetime64("2000-01-01")
    has_referrer = rng.random(n) >= 0.3
    defect = np.where(rng.random(n) < DEFECT_RATE, rng.integers(0, len(DEFECT_KINDS), n), -1)

    df = pl.DataFrame(
        {
            "_id": ids,
            "_first": first,
            "_last": last,
            "_cents": cents,
            "_age": rng.integers(0, 151, n),
            "country": _pick(rng, COUNTRIES, n),
            "_date": pl.Series(days, dtype=pl.Date),
            "active": _pick(rng, BOOLEAN_SPELLINGS, n),
            "_plan": _pick(rng, PLANS, n),
            "_plan_n": rng.integers(0, 100, n),
            "_has_ref": has_referrer,
            "_ref_n": rng.integers(0, 1_000, n),
            "_defect": defect,
        }
    )
    id_s = pl.col("_id").cast(pl.String)
    df = df.select(
        id=id_s,
        name=pl.concat_str(pl.col("_first"), pl.lit(" "), pl.col("_last")),
        email=pl.concat_str(
            pl.col("_first").str.to_lowercase(), pl.lit("."), pl.col("_last").str.to_lowercase(),
            id_s, pl.lit("@example.com"),
        ),
        age=pl.col("_age").cast(pl.String),
        score=pl.concat_str(
            (pl.col("_cents") // 100).cast(pl.String), pl.lit("."),
            (pl.col("_cents") % 100).cast(pl.String).str.zfill(2),
        ),
        country=pl.col("country"),
        signup_date=pl.col("_date").dt.strftime("%Y-%m-%d"),
        active=pl.col("active"),
        plan=pl.concat_str(pl.col("_plan"), pl.lit("-"), pl.col("_plan_n").cast(pl.String).str.zfill(2)),
        referrer=pl.when(pl.col("_has_ref")).then(
            pl.concat_str(pl.lit("ref-"), pl.col("_ref_n").cast(pl.String))
        ),
        _defect=pl.col("_defect"),
    )
    null = pl.lit(None, dtype=pl.String)
    bad_values: dict[str, pl.Expr] = {
        "id_not_integer": pl.concat_str(pl.col("id"), pl.lit(".5")),
        "id_zero": pl.lit("0"),
        "name_empty": null,
        "name_too_long": pl.lit("x" * 101),
        "email_no_at": pl.col("email").str.replace("@", ".", literal=True),
        "email_empty": null,
        "age_151": pl.lit("151"),
        "age_negative": pl.lit("-1"),
        "age_text": pl.lit("thirty"),
        "score_100": pl.lit("100"),
        "country_unknown": pl.lit("XX"),
        "date_feb_30": pl.lit("2021-02-30"),
        "active_yes": pl.lit("yes"),
        "plan_unknown": pl.lit("gold-01"),
        "plan_one_digit": pl.lit("pro-1"),
    }
    replaced: dict[str, pl.Expr] = {}
    for k, kind in enumerate(DEFECT_KINDS):
        column = USERS_DEFECTS[kind][0]
        base = replaced.get(column, pl.col(column))
        replaced[column] = pl.when(pl.col("_defect") == k).then(bad_values[kind]).otherwise(base)
    return df.with_columns(**replaced)


def users_defects(df: pl.DataFrame, *, offset: int = 0) -> pl.DataFrame:
    """Ground truth for a users frame: spreadsheet row (header = 1), column, kind, keyword."""
    kinds = pl.Series(DEFECT_KINDS, dtype=pl.String)
    d = df.select(row=pl.int_range(offset + 2, offset + 2 + df.height, dtype=pl.Int64), k=pl.col("_defect"))
    d = d.filter(pl.col("k") >= 0)
    kind = kinds.gather(d["k"])
    return pl.DataFrame(
        {
            "row": d["row"],
            "kind": kind,
            "column": kind.replace_strict({k: v[0] for k, v in USERS_DEFECTS.items()}),
            "keyword": kind.replace_strict({k: v[1] for k, v in USERS_DEFECTS.items()}),
        }
    )


def wide_frame(n: int, *, seed: int = SEED) -> pl.DataFrame:
    """``n`` rows x 100 text columns; ~2% of rows get one defect in a random column."""
    rng = np.random.default_rng([seed, 7])
    words = ["".join(w) for w in rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=(1000, 12))]
    word_len = rng.integers(3, 13, 1000)
    words = [w[:k] for w, k in zip(words, word_len)]
    defect_row = rng.random(n) < DEFECT_RATE
    defect_col = np.where(defect_row, rng.integers(0, WIDE_COLUMNS, n), -1)
    defect_variant = rng.integers(0, 2, n)
    cols: dict[str, pl.Series] = {}
    for i in range(WIDE_COLUMNS):
        kind = _wide_kind(i)
        name = f"c{i:03d}"
        if kind == "integer":
            good = pl.Series(name, rng.integers(0, 1001, n)).cast(pl.String)
            bad = np.where(defect_variant == 0, "1001", "1.5")  # maximum, type
        elif kind == "number":
            c = rng.integers(0, 100_001, n)
            good = pl.Series(name, [f"{a}.{b:02d}" for a, b in zip(c // 100, c % 100)])
            bad = np.where(defect_variant == 0, "-0.5", "abc")  # minimum, type
        else:
            good = pl.Series(name, words, dtype=pl.String).gather(rng.integers(0, 1000, n))
            bad = np.where(defect_variant == 0, "", "y" * 21)  # required (empty), maxLength
        hit = defect_col == i
        values = good.to_numpy().astype(object)
        values[hit] = bad[hit]
        s = pl.Series(name, values, dtype=pl.String)
        cols[name] = s.replace("", None)
    return pl.DataFrame(cols)


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def write_users(path: Path, rows: int, *, seed: int = SEED) -> None:
    """users.csv plus ``users.defects.parquet`` and ``users.schema.json`` beside it."""
    df = users_frame(rows, seed=seed)
    users_defects(df).write_parquet(path.with_suffix(".defects.parquet"))
    df.drop("_defect").write_csv(path)
    write_json(path.parent / "users.schema.json", users_schema())


def write_wide(path: Path, rows: int, *, seed: int = SEED) -> None:
    wide_frame(rows, seed=seed).write_csv(path)
    write_json(path.parent / "wide.schema.json", wide_schema())


def write_users_xlsx(path: Path, csv_path: Path, rows: int = XLSX_ROWS) -> None:
    """The first ``rows`` rows of users.csv as XLSX, every cell a text string.

    Text cells keep a text read (fastexcel with dtypes="string") faithful to
    the CSV: numbers are not rounded or reformatted, dates are not turned into
    serials.  Empty cells are not written, so they read back as null.
    """
    import xlsxwriter

    df = pl.read_csv(csv_path, infer_schema=False, n_rows=rows)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("users")
    ws.write_row(0, 0, df.columns)
    for r, row in enumerate(df.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is not None:
                ws.write_string(r, c, value)
    wb.close()


def write_big(
    path: Path,
    target_bytes: int,
    *,
    pieces: int = 4,
    chunk_rows: int = 1_000_000,
    seed: int = SEED,
) -> tuple[int, list[Path]]:
    """Stream users rows into ``path`` until it holds at least ``target_bytes``.

    The same chunks also go, in order, into ``pieces`` smaller CSVs (each with
    its own header), so validating the pieces covers exactly the same rows.
    Only one chunk is in memory at a time.  Returns (rows, piece paths).
    """
    first = users_frame(chunk_rows, offset=0, seed=seed).drop("_defect")
    chunk_bytes = len(first.write_csv(include_header=False))
    n_chunks = max(pieces, -(-target_bytes // chunk_bytes))
    per_piece = -(-n_chunks // pieces)
    piece_paths = [path.with_name(f"{path.stem}.part{p}.csv") for p in range(pieces)]
    rows = 0
    with open(path, "wb") as big:
        piece_fh = None
        for k in range(n_chunks):
            df = first if k == 0 else users_frame(chunk_rows, offset=k * chunk_rows, seed=seed).drop("_defect")
            body = df.write_csv(include_header=False).encode()
            if k == 0:
                big.write((",".join(df.columns) + "\n").encode())
            if k % per_piece == 0:
                if piece_fh:
                    piece_fh.close()
                piece_fh = open(piece_paths[k // per_piece], "wb")
                piece_fh.write((",".join(df.columns) + "\n").encode())
            big.write(body)
            piece_fh.write(body)
            rows += df.height
            del df, body
        piece_fh.close()
    write_json(path.parent / "users.schema.json", users_schema())
    return rows, [p for p in piece_paths if p.exists()]


def dataset_paths(rows: int, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Where the data sets for ``rows`` users rows live (generated or not)."""
    return {
        "users": data_dir / f"users_{rows}.csv",
        "wide": data_dir / "wide_10000.csv",
        "users_xlsx": data_dir / f"users_{min(rows, XLSX_ROWS)}.xlsx",
    }


def ensure_datasets(rows: int, data_dir: Path = DATA_DIR, *, regen: bool = False) -> dict[str, Path]:
    """Generate any missing dataset for ``rows`` users rows; return their paths."""
    data_dir.mkdir(parents=True, exist_ok=True)
    xlsx_rows = min(rows, XLSX_ROWS)
    paths = dataset_paths(rows, data_dir)
    if regen or not paths["users"].exists() or not paths["users"].with_suffix(".defects.parquet").exists():
        print(f"generating {paths['users'].name}", file=sys.stderr)
        write_users(paths["users"], rows)
    if regen or not paths["wide"].exists():
        print(f"generating {paths['wide'].name}", file=sys.stderr)
        write_wide(paths["wide"], 10_000)
    if regen or not paths["users_xlsx"].exists():
        print(f"generating {paths['users_xlsx'].name}", file=sys.stderr)
        write_users_xlsx(paths["users_xlsx"], paths["users"], xlsx_rows)
    write_json(data_dir / "users.schema.json", users_schema())
    write_json(data_dir / "wide.schema.json", wide_schema())
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="users rows (default 1,000,000)")
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR)
    ap.add_argument("--regen", action="store_true", help="rewrite files that already exist")
    ap.add_argument("--big-gb", type=float, default=0, help="also stream a big users CSV of this many GB")
    args = ap.parse_args(argv)
    for name, p in ensure_datasets(args.rows, args.data_dir, regen=args.regen).items():
        print(f"{name}: {p} ({os.path.getsize(p) / 1e6:.1f} MB)")
    if args.big_gb:
        rows, parts = write_big(args.data_dir / "big.csv", int(args.big_gb * 1e9))
        print(f"big: {rows} rows in {args.data_dir / 'big.csv'} and {len(parts)} pieces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
