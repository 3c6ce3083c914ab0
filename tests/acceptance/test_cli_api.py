"""``typecheck api`` refuses unusable settings with one line and exit code 2, before serving anything."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

TYPECHECK = str(Path(sys.executable).with_name("typecheck"))
GOOD_SECRET = secrets.token_urlsafe(32)


def run_api(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TYPECHECK_")}
    return subprocess.run([TYPECHECK, "api", *args], capture_output=True, text=True, timeout=120,
                          env={**clean, **env})


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, (), "typecheck: error: TYPECHECK_JWT_SECRET is not set (at least 32 bytes)"),
        ({"TYPECHECK_JWT_SECRET": "short"}, (), "typecheck: error: TYPECHECK_JWT_SECRET: "
                                                "Value error, must be at least 32 bytes"),
        ({"TYPECHECK_JWT_SECRET": GOOD_SECRET}, (), "typecheck: error: TYPECHECK_FIRST_ADMIN_USERNAME and "
                                                    "TYPECHECK_FIRST_ADMIN_PASSWORD must be set"),
        ({"TYPECHECK_JWT_SECRET": GOOD_SECRET, "TYPECHECK_FIRST_ADMIN_USERNAME": "admin",
          "TYPECHECK_FIRST_ADMIN_PASSWORD": "a-long-password",
          "AIRFLOW_CONN_POSTGRES_DEFAULT": "postgresql://nobody@127.0.0.1:1/none"}, (),
         "typecheck: error: cannot set up users in PostgreSQL: "),
        ({"TYPECHECK_JWT_SECRET": GOOD_SECRET}, ("--workers", "0"),
         "typecheck: error: --workers must be 1 or more and --port 0 to 65535"),
    ],
)
def test_unusable_settings_are_one_line_and_exit_2(env: dict[str, str], args: tuple[str, ...],
                                                   message: str) -> None:
    result = run_api(env, *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message or (message.endswith(": ") and result.stderr.startswith(message)
                                                 and result.stderr.count("\n") == 1)
    assert "Traceback" not in result.stderr
