"""Scale check: a streamed users CSV of >= 5 GB validates in under 1 GB of peak RSS,
and its counts equal the sums over the same rows validated in pieces.

    python benchmarks/bigfile.py              # 5 GB, 4 pieces, data removed afterwards
    python benchmarks/bigfile.py --gb 1 --keep

The file and its pieces are written chunk by chunk (datagen.write_big), never
held in memory.  ``typecheck validate`` runs under ``/usr/bin/time -v`` (peak
RSS = "Maximum resident set size"); without GNU time the RSS comes from
``os.wait4`` and the report says so.  Needs about 2x the file size on disk.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from datagen import DATA_DIR, write_big  # noqa: E402
from engine_snapshot import use_engine  # noqa: E402

GNU_TIME = Path("/usr/bin/time")
RSS_LIMIT_MB = 1024


def typecheck_exe() -> str:
    exe = Path(sys.executable).parent / "typecheck"
    return str(exe) if exe.exists() else shutil.which("typecheck") or "typecheck"


def validate_measured(path: Path, schema: Path) -> dict:
    """Run the CLI on ``path``; return its JSON report plus wall seconds and peak RSS MB."""
    cmd = [typecheck_exe(), "validate", str(path), "--schema", str(schema), "--format", "json", "--max-errors", "1000"]
    use_time = GNU_TIME.exists()
    if use_time:
        cmd = [str(GNU_TIME), "-v", *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"typecheck exited {p.returncode} on {path.name}: {err[-1000:]}")
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        rss_mb = int(m.group(1)) / 1024 if m else float("nan")
        source = "/usr/bin/time -v"
    else:
        import resource

        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        source = "getrusage(RUSAGE_CHILDREN) (no /usr/bin/time: max over children so far)"
    report = json.loads(out)
    report.update(_wall=wall, _rss_mb=rss_mb, _rss_source=source)
    return report


def _counts(report: dict) -> tuple[int, int, dict[tuple[str, str], int]]:
    by_col = Counter()
    for col, kws in report["errors_by_column"].items():
        for kw, n in kws.items():
            by_col[(col, kw)] += n
    return report["total_rows"], report["invalid_rows"], dict(by_col)


def run_big(gb: float = 5.0, *, keep: bool = False, pieces: int = 4, data_dir: Path = DATA_DIR) -> dict:
    """Generate, validate whole and in pieces, compare; returns {"ok", "markdown", ...}."""
    data_dir.mkdir(parents=True, exist_ok=True)
    big = data_dir / "big.csv"
    schema = data_dir / "users.schema.json"
    t0 = time.perf_counter()
    rows, parts = write_big(big, int(gb * 1e9), pieces=pieces)
    gen_s = time.perf_counter() - t0
    size = big.stat().st_size
    print(f"big: wrote {size / 1e9:.2f} GB, {rows:,} rows, {len(parts)} pieces in {gen_s:.0f} s", file=sys.stderr)
    try:
        whole = validate_measured(big, schema)
        print(f"big: whole file {whole['_wall']:.1f} s, peak RSS {whole['_rss_mb']:.0f} MB", file=sys.stderr)
        piece_reports = [validate_measured(p, schema) for p in parts]
    finally:
        if not keep:
            for p in [big, *parts]:
                p.unlink(missing_ok=True)

    total, invalid, by_col = _counts(whole)
    sum_total = sum(r["total_rows"] for r in piece_reports)
    sum_invalid = sum(r["invalid_rows"] for r in piece_reports)
    sum_by_col: Counter = Counter()
    for r in piece_reports:
        sum_by_col.update(_counts(r)[2])
    counts_ok = total == sum_total == rows and invalid == sum_invalid and by_col == dict(sum_by_col)
    rss_ok = whole["_rss_mb"] < RSS_LIMIT_MB
    lines = [
        "## Scale: streamed big CSV",
        "",
        f"- file: {size / 1e9:.2f} GB, {rows:,} rows (users generator, written in 1M-row chunks in {gen_s:.0f} s)",
        f"- `typecheck validate` on the whole file: {whole['_wall']:.1f} s wall "
        f"({rows / whole['_wall'] / 1e6:.2f} M rows/s, {size / whole['_wall'] / 1e6:.0f} MB/s), "
        f"peak RSS **{whole['_rss_mb']:.0f} MB** ({whole['_rss_source']}; limit {RSS_LIMIT_MB} MB): "
        f"**{'pass' if rss_ok else 'MISS'}**",
        f"- pieces: {len(parts)}, peak RSS {max(r['_rss_mb'] for r in piece_reports):.0f} MB, "
        f"{sum(r['_wall'] for r in piece_reports):.1f} s in total",
        f"- whole: total_rows {total:,}, invalid_rows {invalid:,}; sum of pieces: total_rows {sum_total:,}, "
        f"invalid_rows {sum_invalid:,}; errors_by_column {'equal' if by_col == dict(sum_by_col) else 'DIFFERENT'}: "
        f"**{'pass' if counts_ok else 'FAIL'}**",
    ]
    if by_col != dict(sum_by_col):
        diff = {f"{c}/{k}": (by_col.get((c, k)), sum_by_col.get((c, k))) for c, k in set(by_col) | set(sum_by_col)
                if by_col.get((c, k)) != sum_by_col.get((c, k))}
        lines.append(f"- differing (whole, pieces): {diff}")
    md = "\n".join(lines)
    print(md)
    return {"ok": counts_ok and rss_ok, "markdown": md, "rss_mb": whole["_rss_mb"], "counts_ok": counts_ok}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=5.0, help="target size in GB (default 5)")
    ap.add_argument("--pieces", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--engine", default="HEAD", help="git commit to time (default HEAD) or 'worktree'")
    args = ap.parse_args(argv)
    print(f"engine: {use_engine(args.engine)}", file=sys.stderr)
    if not GNU_TIME.exists():
        print("note: /usr/bin/time not found (apt-get install -y time); using getrusage", file=sys.stderr)
    return 0 if run_big(args.gb, keep=args.keep, pieces=args.pieces)["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
