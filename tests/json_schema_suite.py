"""Where the official JSON-Schema-Test-Suite is: vendored in ``tests/json-schema-test-suite``.

As python-jsonschema does, the suite (MIT, its LICENSE beside it, the upstream commit in
``COMMIT``) is vendored, so a clone anywhere runs it. ``TYPECHECK_JSON_SCHEMA_TEST_SUITE``
points the tests at another copy (a newer upstream checkout, say). Nothing here skips:
the conformance tests fail, saying where they looked, when the suite is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "TYPECHECK_JSON_SCHEMA_TEST_SUITE"
VENDORED = Path(__file__).resolve().parent / "json-schema-test-suite"


def suite_root(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The suite's folder (it holds ``tests/``, one folder per draft)."""
    return Path(environ[ENV]) if environ.get(ENV) else VENDORED
