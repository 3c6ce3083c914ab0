"""The chaos run's totals: jobs, faults injected, jobs right, time.

Runs ``tests/integration/test_jobs_chaos.py`` (the machine's RabbitMQ and PostgreSQL, a
Redis of its own; the broker's app is restarted once) and prints what it did.

Run: ``.venv/bin/python benchmarks/chaos.py [--jobs 200] [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        totals_path = Path(folder) / "totals.json"
        env = {**os.environ, "TYPECHECK_CHAOS_JOBS": str(args.jobs), "TYPECHECK_CHAOS_TOTALS": str(totals_path)}
        if args.seed is not None:
            env["TYPECHECK_CHAOS_SEED"] = str(args.seed)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
                               "tests/integration/test_jobs_chaos.py"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if not totals_path.exists():
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        totals = json.loads(totals_path.read_text())
    faults = totals["faults"]
    print("| jobs | worker kills | broker restarts | Redis restarts | runs | worker deaths counted | jobs right "
          "| events | time | test |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {totals['jobs']} | {faults['worker kills']} | {faults['broker restarts']} | {faults['redis restarts']} "
          f"| {totals['runs']} | {totals['worker_deaths']} | {totals['jobs_right']}/{totals['jobs']} "
          f"({totals['jobs_right'] / totals['jobs']:.0%}) | {totals['events']} ({totals['repeated_events']} repeated) "
          f"| {totals['seconds']} s "
          f"| {'passed' if done.returncode == 0 else 'FAILED'} |")
    print(f"\nseed {totals['seed']}; runs per job {totals['runs'] / totals['jobs']:.3f}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
