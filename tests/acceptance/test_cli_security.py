"""The CLI refuses what would leave the schema or outgrow the machine, with exit 2 and one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.forged_workbooks import lying_workbook
from tests.ref_attacks import SECRET, escaping_schemas, http_listener, secret_file

TYPECHECK = str(Path(sys.executable).parent / "typecheck")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TYPECHECK, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("attack", list(escaping_schemas("http://127.0.0.1:1", Path("/s"))))
def test_a_schema_reaching_out_is_exit_2_and_nothing_is_fetched(attack: str, tmp_path: Path) -> None:
    data = tmp_path / "ids.csv"
    data.write_text("id\n1\n")
    with http_listener() as listener:
        schema = tmp_path / "schema.json"
        schema.write_text(json.dumps(escaping_schemas(listener.url, secret_file(tmp_path))[attack]))
        result = run("validate", str(data), "--schema", str(schema), "--format", "json")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "points outside this schema" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert listener.requests == []


def test_a_workbook_lying_about_its_sizes_is_exit_2(tmp_path: Path) -> None:
    forged = lying_workbook(tmp_path / "forged.xlsx")  # 1,000 bytes declared, 600 MiB inflated
    schema = tmp_path / "schema.json"
    schema.write_text('{"properties": {"id": {"type": "string"}}}')
    result = run("validate", str(forged), "--schema", str(schema))
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("part 'xl/worksheets/sheet1.xml' inflates past the 1,000 bytes its zip directory declares"
            in result.stderr)


def test_the_quarantine_file_keeps_formula_cells_byte_for_byte(tmp_path: Path) -> None:
    # --invalid-out feeds pipelines, which need the rows as uploaded; only REST downloads neutralise.
    data = tmp_path / "notes.csv"
    data.write_bytes(b'id,note\nx,=HYPERLINK("http://x")\nx,@SUM(A1)\nx,-2+3\n')
    schema = tmp_path / "schema.json"
    schema.write_text('{"properties": {"id": {"type": "integer"}, "note": {"type": "string"}}}')
    out = tmp_path / "invalid.csv"
    result = run("validate", str(data), "--schema", str(schema), "--invalid-out", str(out))
    assert result.returncode == 1, result.stderr
    written = out.read_bytes()
    assert b'"=HYPERLINK(""http://x"")"' in written and b"@SUM(A1)" in written and b",-2+3," in written
    assert b"'=" not in written and b"'@" not in written
