"""The typecheck command through its installed entry point, on good and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TYPECHECK = str(Path(sys.executable).parent / "typecheck")

USERS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "minLength": 1},
        "age": {"type": ["integer", "null"], "maximum": 150},
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TYPECHECK, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(USERS_SCHEMA))
    return path


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_help_answers_without_airflow() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, airflow_provider_typecheck.cli as c; "
         "c.build_parser(); print('airflow' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip() == "False"
    assert run("--help").returncode == 0


def test_demo_sample_names_the_bad_rows() -> None:
    result = run("validate", str(EXAMPLES / "users.csv"), "--schema", str(EXAMPLES / "users.schema.json"))
    assert result.returncode == 1
    assert "INVALID" in result.stdout
    assert "row 5, age: 151 is greater than the maximum of 150 [maximum]" in result.stdout
    assert "row 8: 'name' is a required property [required]" in result.stdout


def test_json_report_shape(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", "id,name,age\n1,Ann,30\n0,Bob,\nx,,200\n")
    result = run("validate", str(data), "--schema", str(schema_file), "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert list(report) == ["file", "header_row", "schema_draft", "total_rows", "valid_rows", "invalid_rows",
                            "errors_by_column", "errors", "errors_truncated", "fallback_keywords",
                            "warnings", "elapsed_seconds"]
    assert (report["total_rows"], report["valid_rows"], report["invalid_rows"]) == (3, 1, 2)
    assert report["schema_draft"] == "2020-12"
    assert report["header_row"] == 1
    assert report["errors_by_column"] == {
        "id": {"minimum": 1, "type": 1}, "age": {"maximum": 1}, "": {"required": 1},
    }
    assert report["errors"][0] == {
        "row": 3, "column": "id", "path": "/id", "keyword": "minimum", "value": "0",
        "message": "0 is less than the minimum of 1",
    }
    assert {(e["row"], e["column"], e["keyword"]) for e in report["errors"]} == {
        (3, "id", "minimum"), (4, "id", "type"), (4, None, "required"), (4, "age", "maximum"),
    }


def test_all_valid_exits_zero(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", "id,name,age\n1,Ann,30\n2,Bob,\n")
    result = run("validate", str(data), "--schema", str(schema_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("VALID")


def test_max_errors_caps_the_list_not_the_counts(tmp_path: Path, schema_file: Path) -> None:
    rows = "".join(f"{-i},n{i},\n" for i in range(50))
    data = write(tmp_path, "u.csv", "id,name,age\n" + rows)
    report = json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json",
                            "--max-errors", "5").stdout)
    assert len(report["errors"]) == 5
    assert report["errors_truncated"] is True
    assert report["errors_by_column"]["id"]["minimum"] == 50


def test_batch_rows_changes_the_batches_not_the_answer(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "b.csv", "id,name,age\n" + "".join(f"{i},n{i},{i if i % 3 else 'x'}\n" for i in range(1, 11)))
    reports = [json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json", *extra).stdout)
               for extra in ([], ["--batch-rows", "3"])]
    assert [(r["total_rows"], r["invalid_rows"], r["errors_by_column"]) for r in reports] == [
        (10, 3, {"age": {"type": 3}})
    ] * 2
    refused = run("validate", str(data), "--schema", str(schema_file), "--batch-rows", "0")
    assert (refused.returncode, refused.stderr) == (2, "typecheck: error: --batch-rows must be 1 or more\n")


def test_quarantine_outputs(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", "id,name,age\n1,Ann,30\n0,Bob,\n3,Cy,151\n")
    valid, invalid = tmp_path / "valid.csv", tmp_path / "invalid.parquet"
    result = run("validate", str(data), "--schema", str(schema_file),
                 "--valid-out", str(valid), "--invalid-out", str(invalid))
    assert result.returncode == 1
    assert pl.read_csv(valid, infer_schema=False).to_dicts() == [{"id": "1", "name": "Ann", "age": "30"}]
    bad = pl.read_parquet(invalid)
    assert bad.columns == ["_row", "id", "name", "age", "_errors"]
    assert bad["_row"].to_list() == [3, 4]
    assert bad["_errors"].to_list() == ["id:minimum", "age:maximum"]


def test_semicolon_delimiter_is_sniffed(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", 'id;name;age\n1;"Ann; the first";30\n')
    assert run("validate", str(data), "--schema", str(schema_file)).returncode == 0


def test_quoted_fields_with_newlines_and_quotes(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", 'id,name,age\n1,"Ann\nSmith, ""the"" first",30\n2,Bo,\n')
    report = json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json").stdout)
    assert report["total_rows"] == 2 and report["invalid_rows"] == 0


def test_bom_is_ignored(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", b"\xef\xbb\xbfid,name,age\n1,Ann,30\n")
    assert run("validate", str(data), "--schema", str(schema_file)).returncode == 0


def test_cp1252_file_is_read_with_a_warning(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", "id,name,age\n1,Jos\u00e9 \u20ac,30\n".encode("cp1252"))
    report = json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json").stdout)
    assert report["invalid_rows"] == 0
    assert [w.split(", a guess")[0] for w in report["warnings"]] == ["the file is not UTF-8; read it as cp1252"]


def test_xlsx_sheet_by_name_and_index(tmp_path: Path, schema_file: Path) -> None:
    import xlsxwriter

    path = tmp_path / "u.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("first").write_row(0, 0, ["other"])
    sheet = book.add_worksheet("users")
    for r, row in enumerate([["id", "name", "age"], [1, "Ann", 30], [2.5, "Bob", None], ["7", "Cy", 151]]):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    book.close()
    for selector in ("users", "1"):
        report = json.loads(run("validate", str(path), "--schema", str(schema_file), "--sheet", selector,
                                "--format", "json").stdout)
        assert report["total_rows"] == 3
        assert report["errors_by_column"] == {"id": {"type": 1}, "age": {"maximum": 1}}
        assert report["errors"][0]["value"] == "2.5"
    missing = run("validate", str(path), "--schema", str(schema_file), "--sheet", "nope")
    assert missing.returncode == 2
    assert "no sheet named 'nope'" in missing.stderr


def test_xls_is_read(tmp_path: Path, schema_file: Path) -> None:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("users")
    for r, row in enumerate([["id", "name", "age"], [1, "Ann", 30], [0, "Bob", 20]]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    path = tmp_path / "u.xls"
    book.save(str(path))
    report = json.loads(run("validate", str(path), "--schema", str(schema_file), "--format", "json").stdout)
    assert report["errors_by_column"] == {"id": {"minimum": 1}}


def test_ragged_rows_are_errors_and_the_rest_is_validated(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "u.csv", "id,name,age\n1,Ann,30\n2,Bob\n3,Cy,40,extra\n0,Di,20\n")
    result = run("validate", str(data), "--schema", str(schema_file), "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["total_rows"] == 4
    assert report["invalid_rows"] == 3
    assert report["errors_by_column"][""]["ragged"] == 2
    assert report["errors_by_column"]["id"] == {"minimum": 1}
    ragged = [e for e in report["errors"] if e["keyword"] == "ragged"]
    assert [(e["row"], e["message"]) for e in ragged] == [
        (3, "row has 2 field(s) but the header has 3"), (4, "row has 4 field(s) but the header has 3"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty; expected a header row"),
        ("garbage.csv", bytes(range(256)) * 4, "looks like a binary file (NUL bytes), not CSV text"),
        ("corrupt.xlsx", b"PK\x03\x04 definitely not a workbook", "the workbook is truncated or damaged"),
        ("data.json", b"{}", "unknown file type '.json'"),
    ],
)
def test_unreadable_files_exit_2(tmp_path: Path, schema_file: Path, name: str, content: bytes, message: str) -> None:
    data = write(tmp_path, name, content)
    result = run("validate", str(data), "--schema", str(schema_file))
    assert result.returncode == 2
    assert result.stderr.startswith("typecheck: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path: Path, schema_file: Path) -> None:
    result = run("validate", str(tmp_path / "nope.csv"), "--schema", str(schema_file))
    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_a_bad_schema_is_the_error_reported_even_when_the_file_is_missing_too(tmp_path: Path) -> None:
    # The file is read while the schema is compiled: the schema's error still wins.
    schema = write(tmp_path, "s.json", '{"properties": {"id": {"minimum": "one"}}}')
    result = run("validate", str(tmp_path / "nope.csv"), "--schema", str(schema))
    assert result.returncode == 2
    assert "invalid schema at /properties/id/minimum" in result.stderr
    assert "file not found" not in result.stderr


def test_header_only_file_is_valid_and_empty(tmp_path: Path, schema_file: Path) -> None:
    data = write(tmp_path, "h.csv", "id,name,age\n")
    report = json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json").stdout)
    assert (report["total_rows"], report["invalid_rows"]) == (0, 0)


def test_undecodable_bytes_fall_back_to_a_single_byte_encoding(tmp_path: Path, schema_file: Path) -> None:
    # 0x81 is undefined in cp1252: latin-1 is the last resort and never fails.
    data = write(tmp_path, "u.csv", b"id,name,age\n1,\x81bc,3\n")
    report = json.loads(run("validate", str(data), "--schema", str(schema_file), "--format", "json").stdout)
    assert [w.split(", a guess")[0] for w in report["warnings"]] == ["the file is not UTF-8; read it as latin-1"]
    assert report["invalid_rows"] == 0


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ('{"type": "object", "properties": {"id": {"minimum": "one"}}}',
         "invalid schema at /properties/id/minimum: 'minimum': 'one' is not of type 'number'"),
        ("[1, 2]", "the schema must be a JSON object, not list"),
        ('{"type": ', "is not valid JSON"),
        ('{"properties": {"id": {"$ref": "https://example.com/id.json"}}}',
         "invalid schema at /properties/id/$ref: $ref 'https://example.com/id.json' points outside this schema"),
        ('{"properties": {"id": {"pattern": "(unclosed"}}}',
         "invalid schema at /properties/id/pattern: '(unclosed' is not a valid regular expression"),
        ('{"$schema": "http://example.com/my-dialect"}', "unsupported $schema"),
    ],
)
def test_unusable_schemas_exit_2(tmp_path: Path, schema_text: str, message: str) -> None:
    schema = write(tmp_path, "s.json", schema_text)
    data = write(tmp_path, "u.csv", "id\n1\n")
    result = run("validate", str(data), "--schema", str(schema))
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("validate").returncode == 2
    assert run("bogus").returncode == 2


def test_infer_drafts_a_schema_that_accepts_its_own_file(tmp_path: Path) -> None:
    result = run("infer", str(EXAMPLES / "users.csv"))
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["properties"]["id"]["type"] == "integer"
    assert schema["properties"]["age"]["type"] == "string"  # "forty" is not a number
    assert schema["properties"]["active"]["type"] == "string"  # "yes" is not a boolean
    assert "nickname" not in schema["required"]
    path = write(tmp_path, "inferred.json", result.stdout)
    assert run("validate", str(EXAMPLES / "users.csv"), "--schema", str(path)).returncode == 0


def test_false_subschemas_are_reported_without_a_keyword(tmp_path: Path) -> None:
    data = write(tmp_path, "f.csv", "a,b\n1,2\n")
    schema = write(tmp_path, "f.json", '{"properties": {"a": false, "b": {"allOf": [false]}}}')
    text = run("validate", str(data), "--schema", str(schema))
    assert text.returncode == 1
    assert "row 2, b: False schema does not allow 2 [false schema]" in text.stdout
    report = json.loads(run("validate", str(data), "--schema", str(schema), "--format", "json").stdout)
    assert report["errors_by_column"] == {"": {"null": 1}, "b": {"null": 1}}
    assert [(e["column"], e["keyword"]) for e in report["errors"]] == [(None, None), ("b", None)]


def test_a_closed_pipe_ends_quietly() -> None:
    result = subprocess.run(
        f"{TYPECHECK} infer {EXAMPLES / 'users.csv'} | head -1", shell=True, capture_output=True, text=True,
        timeout=120,
    )
    assert result.stdout == "{\n"
    assert "Traceback" not in result.stderr
