"""A catalogue of bad input: each case runs the CLI through its entry point and checks
the exit code (1 only for invalid rows, 2 for everything that keeps a file from being
checked) and the one-line message.

The cases run concurrently once per session (the CLI starts in about 0.3 s); each
parametrised test then checks one of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.forged_workbooks import with_big_sheet

TYPECHECK = str(Path(sys.executable).parent / "typecheck")
SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Path], list[str]]
    code: int
    message: str
    stream: str = "stderr"
    env: dict[str, str] = field(default_factory=dict)


def validate(file: str, *extra: str, schema: str = "schema.json") -> Callable[[Path], list[str]]:
    return lambda d: ["validate", file if "://" in file or file.startswith("/") else str(d / file),
                      "--schema", schema if schema.startswith("/") else str(d / schema), *extra]


def nested(levels: int) -> str:
    return '{"not": ' * levels + "{}" + "}" * levels


SCHEMAS = {
    "schema.json": json.dumps(SCHEMA),
    "not-json.json": '{"type": ',
    "list.json": "[1, 2]",
    "string.json": '"object"',
    "bad-minimum.json": '{"properties": {"id": {"minimum": "one"}}}',
    "dialect.json": '{"$schema": "http://example.com/my-dialect"}',
    "remote-ref.json": '{"properties": {"id": {"$ref": "https://example.com/id.json"}}}',
    "self-ref.json": '{"$ref": "#"}',
    "cycle.json": '{"properties": {"id": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]},'
                  ' "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}}',
    "dangling-ref.json": '{"properties": {"id": {"$ref": "#/$defs/nope"}}}',
    "deep.json": nested(10_000),
    "big.json": json.dumps({"properties": {f"c{i}": {"enum": [f"value {j}" for j in range(100)]}
                                           for i in range(5_000)}}),
    "bad-pattern.json": '{"properties": {"name": {"pattern": "(unclosed"}}}',
    "posix-pattern.json": '{"properties": {"name": {"pattern": "^[[:alpha:]]+$"}}}',
    "nan.json": '{"properties": {"id": {"minimum": NaN}}}',
    "redos.json": '{"properties": {"name": {"pattern": "^(a|aa)+$"}}}',
    "redos-lookahead.json": '{"properties": {"name": {"pattern": "^(?=a)(a|aa)+$"}}}',
}

CASES = [
    # The file.
    Case("missing file", validate("nope.csv"), 2, "nope.csv: file not found"),
    Case("directory", validate("folder.csv"), 2, "folder.csv: is a directory, not a file"),
    Case("fifo", validate("fifo.csv"), 2, "fifo.csv: not a regular file (a FIFO, device or socket)"),
    Case("device", validate("/dev/zero"), 2, "/dev/zero: not a regular file (a FIFO, device or socket)"),
    Case("device with a csv name", validate("zero.csv"), 2, "zero.csv: not a regular file"),
    Case("empty file", validate("empty.csv"), 2, "the file is empty; expected a header row"),
    Case("binary file", validate("binary.csv"), 2, "looks like a binary file (NUL bytes), not CSV text"),
    Case("unknown extension", validate("data.json"), 2, "unknown file type '.json'"),
    Case("duplicate header, strict", validate("dup.csv", "--strict-header"), 2,
         "header names column 'id' more than once (cells A1 and C1; the header is row 1)"),
    Case("empty header name, strict", validate("blank.csv", "--strict-header"), 2,
         "header cell B1 is empty (the header is row 1)"),
    Case("corrupt xlsx", validate("corrupt.xlsx"), 2, "corrupt.xlsx: the workbook is truncated or damaged"),
    Case("truncated xlsx", validate("truncated.xlsx"), 2, "truncated.xlsx: the workbook is truncated or damaged"),
    Case("zip bomb xlsx", validate("bomb.xlsx"), 2,
         "bomb.xlsx: the workbook inflates to 64,212,629 bytes of XML; the limit is 33,554,432",
         env={"TYPECHECK_MAX_WORKBOOK_UNCOMPRESSED_BYTES": str(32 * 1024 * 1024)}),
    Case("sheet spanning a million columns", validate("wide.xlsx"), 2, "spans 17,179,869,184 cells"),
    Case("missing sheet", validate("ok.xlsx", "--sheet", "nope"), 2, "no sheet named 'nope'"),
    Case("sheet index out of range", validate("ok.xlsx", "--sheet", "5"), 2, "no sheet 5"),
    Case("http without its packages", validate("http://127.0.0.1:9/data.csv"), 2,
         "http://127.0.0.1:9/data.csv: reading it needs a package that is not installed"),
    Case("unknown protocol", validate("nope://bucket/data.csv"), 2, "nope://bucket/data.csv: cannot open"),
    # CSV options.
    Case("sheet on a csv", validate("ok.csv", "--sheet", "1"), 2, "ok.csv: a CSV file has no sheets"),
    Case("quote as delimiter", validate("ok.csv", "--delimiter", '"'), 2, "delimiter '\"' cannot separate fields"),
    Case("newline as delimiter", validate("ok.csv", "--delimiter", "\n"), 2, "delimiter '\\n' cannot separate"),
    Case("carriage return as delimiter", validate("ok.csv", "--delimiter", "\r"), 2, "delimiter '\\r' cannot"),
    Case("two-character delimiter", validate("ok.csv", "--delimiter", "::"), 2, "one single-byte (ASCII) character"),
    Case("multi-byte delimiter", validate("ok.csv", "--delimiter", "\u00a7"), 2, "one single-byte (ASCII) character"),
    # Which table: range, columns, header row.
    Case("not a range", validate("ok.csv", "--range", "A3-F40"), 2, "range 'A3-F40' is not a cell range such as A3:F40"),
    Case("range upside down", validate("ok.csv", "--range", "A9:B3"), 2, "range 'A9:B3' ends above the row it starts on"),
    Case("range beside the table", validate("ok.xlsx", "--range", "K1:M9"), 2, "holds nothing in the range K1:M9"),
    Case("unknown column", validate("ok.csv", "--columns", "id,nope"), 2, "no column 'nope' in the header (row 1)"),
    Case("header row neither number nor auto", validate("ok.csv", "--header-row", "top"), 2,
         "expected a row number or 'auto', got 'top'"),
    Case("header row outside the range", validate("ok.csv", "--range", "A3:B9", "--header-row", "1"), 2,
         "the header row 1 is outside the range A3:B9"),
    # The schema.
    Case("missing schema", validate("ok.csv", schema="nope.json"), 2, "schema file not found"),
    Case("schema is a directory", validate("ok.csv", schema="folder.csv"), 2, "folder.csv is a directory"),
    Case("schema is a fifo", validate("ok.csv", schema="fifo.csv"), 2, "fifo.csv is not a regular file"),
    Case("schema not utf-8", validate("ok.csv", schema="latin1.json"), 2, "cannot read schema file"),
    Case("schema not json", validate("ok.csv", schema="not-json.json"), 2, "is not valid JSON"),
    Case("schema a list", validate("ok.csv", schema="list.json"), 2, "the schema must be a JSON object, not list"),
    Case("schema a string", validate("ok.csv", schema="string.json"), 2, "must be a JSON object, not str"),
    Case("invalid keyword", validate("ok.csv", schema="bad-minimum.json"), 2,
         "invalid schema at /properties/id/minimum: 'minimum': 'one' is not of type 'number'"),
    Case("unknown dialect", validate("ok.csv", schema="dialect.json"), 2, "unsupported $schema"),
    Case("remote $ref", validate("ok.csv", schema="remote-ref.json"), 2, "points outside this schema"),
    Case("recursive $ref", validate("ok.csv", schema="self-ref.json"), 2,
         "invalid schema at /: this subschema leads back to itself"),
    Case("cycle of references", validate("ok.csv", schema="cycle.json"), 2, "leads back to itself"),
    Case("dangling $ref", validate("ok.csv", schema="dangling-ref.json"), 2,
         "$ref '#/$defs/nope' cannot be resolved within this schema"),
    Case("10,000 levels deep", validate("ok.csv", schema="deep.json"), 2, "nests deeper than 64 levels"),
    Case("oversized schema", validate("ok.csv", schema="big.json"), 2, "bytes; the limit is 4,194,304"),
    Case("bad pattern", validate("ok.csv", schema="bad-pattern.json"), 2, "is not a valid regular expression"),
    Case("ambiguous pattern", validate("ok.csv", schema="posix-pattern.json"), 2, "holds a POSIX class"),
    Case("NaN in the schema", validate("ok.csv", schema="nan.json"), 2, "the schema is not JSON"),
    Case("catastrophic pattern", validate("redos.csv", schema="redos.json"), 1,
         "could not be matched against '^(a|aa)+$' within 0.1 s", "stdout"),
    Case("catastrophic pattern in python", validate("redos.csv", schema="redos-lookahead.json"), 1,
         "could not be matched against '^(?=a)(a|aa)+$' within 0.1 s", "stdout"),
    # Outputs.
    Case("valid-out is the input", validate("ok.csv", "--valid-out", "{d}/ok.csv"), 2,
         "the valid rows' output is the input"),
    Case("invalid-out is a link to the input", validate("ok.csv", "--invalid-out", "{d}/link.csv"), 2,
         "the invalid rows' output is the input"),
    Case("both outputs in one file", validate("ok.csv", "--valid-out", "{d}/o.csv", "--invalid-out", "{d}/o.csv"), 2,
         "the invalid rows' output is the valid rows' output"),
    Case("unwritable output", validate("ok.csv", "--valid-out", "/proc/typecheck/out.csv"), 2, "cannot write"),
    Case("output is a directory", validate("ok.csv", "--invalid-out", "{d}/folder.csv"), 2,
         "folder.csv: cannot write: Is a directory"),
    Case("unknown output type", validate("ok.csv", "--valid-out", "{d}/o.xlsx"), 2, "unknown output type '.xlsx'"),
    # Options and settings.
    Case("unknown format", validate("ok.csv", "--format", "xml"), 2, "argument --format: invalid choice: 'xml'"),
    Case("negative max-errors", validate("ok.csv", "--max-errors", "-1"), 2, "--max-errors must be 0 or more"),
    Case("max-errors not a number", validate("ok.csv", "--max-errors", "ten"), 2, "invalid int value: 'ten'"),
    Case("zero batch-rows", validate("ok.csv", "--batch-rows", "0"), 2, "--batch-rows must be 1 or more"),
    Case("no schema option", lambda d: ["validate", str(d / "ok.csv")], 2, "the following arguments are required"),
    Case("unknown command", lambda d: ["check"], 2, "invalid choice: 'check'"),
    Case("infer with zero sample", lambda d: ["infer", str(d / "ok.csv"), "--sample", "0"], 2,
         "--sample must be 1 or more"),
    Case("infer on a fifo", lambda d: ["infer", str(d / "fifo.csv")], 2, "not a regular file"),
    Case("invalid limit setting", validate("ok.csv"), 2, "setting TYPECHECK_MAX_SCHEMA_DEPTH:",
         env={"TYPECHECK_MAX_SCHEMA_DEPTH": "0"}),
    Case("schema over a lowered limit", validate("ok.csv"), 2, "bytes; the limit is 50",
         env={"TYPECHECK_MAX_SCHEMA_BYTES": "50"}),
    Case("workbook over a lowered cell limit", validate("ok.xlsx"), 2, "spans 4 cells; the limit is 3",
         env={"TYPECHECK_MAX_WORKBOOK_CELLS": "3"}),
    # Controls: the same CLI on good input.
    Case("valid file", validate("ok.csv"), 0, "VALID", "stdout"),
    Case("invalid rows", validate("bad.csv"), 1, "INVALID", "stdout"),
]


# Two text cells on row 2, repeated: a sheet small on disk and big once inflated.
TWO_CELL_ROW = b'<row r="2"><c r="A2" t="inlineStr"><is><t>1</t></is></c><c r="B2" t="inlineStr"><is><t>a</t></is></c></row>'


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("data")
    for r, row in enumerate(rows):
        sheet.write_row(r, 0, row)
    book.close()
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    d = tmp_path_factory.mktemp("catalogue")
    for name, text in SCHEMAS.items():
        (d / name).write_text(text)
    (d / "latin1.json").write_bytes('{"title": "caf\u00e9"}'.encode("latin-1"))
    (d / "ok.csv").write_text("id,name\n1,Ann\n")
    (d / "bad.csv").write_text("id,name\nx,Ann\n")
    (d / "redos.csv").write_text("id,name\n1," + "a" * 40 + "b\n")
    (d / "empty.csv").write_bytes(b"")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "data.json").write_text("{}")
    (d / "dup.csv").write_text("id,name,id\n1,a,2\n")
    (d / "blank.csv").write_text("id,,name\n1,a,2\n")
    (d / "corrupt.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (d / "folder.csv").mkdir()
    os.mkfifo(d / "fifo.csv")
    (d / "zero.csv").symlink_to("/dev/zero")
    (d / "link.csv").symlink_to(d / "ok.csv")
    ok = _xlsx(d / "ok.xlsx", [["id", "name"], [1, "Ann"]])
    (d / "truncated.xlsx").write_bytes(ok.read_bytes()[: ok.stat().st_size // 2])
    # The same as the default limit's 512 MiB, at a lowered limit: compressing costs less.
    with_big_sheet(ok, d / "bomb.xlsx", "A1:B600001", 600_000, row=TWO_CELL_ROW)
    with_big_sheet(ok, d / "wide.xlsx", "A1:XFD1048576", 100_000, row=TWO_CELL_ROW)
    assert (d / "bomb.xlsx").stat().st_size < 300_000

    def run(case: Case) -> subprocess.CompletedProcess[str]:
        args = [arg.replace("{d}", str(d)) for arg in case.args(d)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("TYPECHECK_")}
        return subprocess.run([TYPECHECK, *args], capture_output=True, text=True, timeout=120,
                              env=env | case.env, cwd=d)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([case.id for case in CASES], pool.map(run, CASES), strict=True))


def test_the_catalogue_is_big_enough() -> None:
    assert len([case for case in CASES if case.code == 2]) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = results[case.id]
    assert result.returncode == case.code, result.stderr
    assert case.message in getattr(result, case.stream), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if case.code == 2:
        *usage, last = result.stderr.splitlines()
        assert last.startswith("typecheck: error: ")
        # One line; argparse prints its usage before its own.
        assert not usage or (usage[0].startswith("usage: ") and all(line.startswith(" ") for line in usage[1:]))


def test_an_internal_error_is_exit_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_typecheck import cli
    from airflow_provider_typecheck.validation import readers

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug\nspanning lines")

    monkeypatch.setattr(readers, "open_table", broken)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    assert cli.main(["validate", str(tmp_path / "any.csv"), "--schema", str(schema)]) == 2
    assert capsys.readouterr().err == (
        "typecheck: error: internal error (KeyError: 'a bug\\nspanning lines'); please report it\n"
    )
