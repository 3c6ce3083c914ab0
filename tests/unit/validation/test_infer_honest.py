"""`infer` is honest about its file: every fixture of the suite validates against the schema
inferred from it, read with the same options and limits and giving the same warnings, or infer
refuses it and says why (rows no schema can make valid).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_typecheck.validation import ReadError, WorkbookLimits, validate_file
from airflow_provider_typecheck.validation.infer import infer_schema
from tests.unit.validation import test_infer
from tests.unit.validation.readers import test_sheet_tables
from tests.unit.validation.test_workbook_limits import workbook

TYPECHECK = str(Path(sys.executable).parent / "typecheck")
REPOSITORY = Path(__file__).resolve().parents[3]


def text_file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        path.write_bytes(data)
        return path
    return make


def declaring(source: Path, target: Path, dimension: str = "A1:XFD1048576") -> Path:
    """``source`` whose sheet declares it spans ``dimension`` (as some writers declare the whole grid)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for part in original.infolist():
            data = original.read(part)
            if part.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>'.encode(), data)
            copy.writestr(part, data)
    return target


def ragged_file(directory: Path) -> Path:
    return text_file("ragged.csv", b"id,name\n1,a\n2,b,extra\n3\n")(directory)


# Every file the suite's sheet tests build, and the examples: (maker, reading options).
FIXTURES: dict[str, tuple[Callable[[Path], Path], dict[str, Any]]] = {
    **{f"infer-{make.__name__}": ((lambda d, make=make: make(d / f"{make.__name__}{'.xlsx' if make is test_infer.workbook else '.csv'}", random.Random(5))), {})
       for make in test_infer.FIXTURES},
    "example users.csv": (lambda d: REPOSITORY / "examples" / "users.csv", {}),
    "blank and repeated header xlsx": (
        lambda d: test_sheet_tables.xlsx(d / "names.xlsx", [test_sheet_tables.HEADER, *test_sheet_tables.ROWS]), {}),
    "blank and repeated header csv": (text_file("names.csv", b"id,,name,name,B,  \n1,x,Ann,Ann B,b,\n2,,Bo,,b2,z\n"), {}),
    "two tables, the first": (lambda d: test_sheet_tables.two_tables(d / "t.xlsx"), {"cell_range": "A3:C6"}),
    "two tables, the second": (lambda d: test_sheet_tables.two_tables(d / "t.xlsx"), {"cell_range": "E3:F5"}),
    "two tables, whole sheet": (lambda d: test_sheet_tables.two_tables(d / "t.xlsx"), {}),
    "two tables, chosen columns": (lambda d: test_sheet_tables.two_tables(d / "t.xlsx"),
                                   {"cell_range": "A3:F6", "columns": "units,stock"}),
    "comment lines, auto": (text_file("c.csv", b"# clean this data!\n# by hand, twice\nid,name\n1,a\n2,b\n"),
                            {"header_row": "auto"}),
    "comment line, default": (text_file("c.csv", b"# clean this data!\nid,name\n1,a\n2,b\n"), {}),
    "title rows xlsx, auto": (lambda d: test_sheet_tables.xlsx(d / "title.xlsx", [["Note 1"], [], ["a", "b"], [1, 2]]),
                              {"header_row": "auto"}),
    "title rows xlsx, default": (lambda d: test_sheet_tables.xlsx(d / "title.xlsx", [["Note 1"], [], ["a", "b"], [1, 2]]),
                                 {}),
    "times xlsx": (lambda d: test_sheet_tables.times_xlsx(d / "t.xlsx"), {}),
    "times xlsx 1904": (lambda d: test_sheet_tables.times_xlsx(d / "t.xlsx", date_1904=True), {}),
    "times xls": (lambda d: test_sheet_tables.times_xls(d / "t.xls"), {}),
    "times ods": (lambda d: test_sheet_tables.times_ods(d / "t.ods"), {}),
    "trimmed text": (lambda d: test_sheet_tables.without_preserve(
        test_sheet_tables.xlsx(d / "k.xlsx", [["city ", "code"], ["City ", " x\t"]]), d / "trimmed.xlsx"), {}),
    "cp1252 guessed": (text_file("w.csv", "name,city\nJosé,Zürich\nAnn,Köln\n".encode("cp1252")), {}),
    "greek, named": (text_file("g.csv", "όνομα,πόλη\nΆννα,Αθήνα\n".encode("iso-8859-7")), {"encoding": "iso-8859-7"}),
    "utf-16 with bom": (text_file("u.csv", "id,name\n1,Ann\n".encode("utf-16")), {}),
    "ragged rows": (ragged_file, {}),
    "huge declared dimension": (lambda d: declaring(workbook(d / "plain.xlsx", rows=30), d / "wide.xlsx"),
                                {"workbook_limits": WorkbookLimits(max_cells=2**40)}),
    "floats and codes": (text_file("f.csv", b"code,v,flag\n007,0.1,TRUE\n010,1e3,false\n,2.50,true\n"), {}),
}


REFUSED = {
    "ragged rows": "2 row(s) have more or fewer fields than the header (row 1): row 3 has 3, the header 2",
    # The comment taken as a one-column header (with a warning saying so): every row is too long.
    "comment line, default": "3 row(s) have more or fewer fields than the header (row 1): row 2 has 2, the header 1",
}


@pytest.mark.parametrize("name", list(FIXTURES))
def test_infer_then_validate_on_every_fixture(tmp_path: Path, name: str) -> None:
    make, options = FIXTURES[name]
    path = make(tmp_path)
    inferred_warnings: list[str] = []
    try:
        schema = infer_schema(path, warnings=inferred_warnings, **options)
    except ReadError as err:
        # The one refusal: rows whose field count differs, which no schema makes valid
        # (even the empty schema fails them), named with the row taken as the header.
        assert name in REFUSED, err
        assert REFUSED[name] in str(err)
        assert not validate_file(path, {}, **options).is_valid
        return
    report = validate_file(path, schema, max_errors=5, **options)
    assert report.is_valid, (schema, report.errors)
    assert report.total_rows >= 1
    assert report.warnings == inferred_warnings


def test_infer_warns_of_a_guessed_encoding_as_validate_does(tmp_path: Path) -> None:
    path = FIXTURES["cp1252 guessed"][0](tmp_path)
    warnings: list[str] = []
    schema = infer_schema(path, warnings=warnings, strict=True)
    assert schema["properties"]["city"]["maxLength"] == len("Zürich")  # six characters, not seven bytes
    assert any("not UTF-8; read it as cp1252, a guess" in warning for warning in warnings)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TYPECHECK, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=False)


def test_cli_infer_honours_the_workbook_cell_limit_as_validate_does(tmp_path: Path) -> None:
    wide = declaring(workbook(tmp_path / "plain.xlsx", rows=30), tmp_path / "wide.xlsx")
    refused = run("infer", str(wide))
    assert refused.returncode == 2 and "sheet 'data' spans 17,179,869,184 cells" in refused.stderr
    raised = {"TYPECHECK_MAX_WORKBOOK_CELLS": str(2**40)}
    inferred = run("infer", str(wide), env=raised)
    assert inferred.returncode == 0, inferred.stderr
    (tmp_path / "wide.json").write_text(inferred.stdout)
    checked = run("validate", str(wide), "--schema", str(tmp_path / "wide.json"), env=raised)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_cli_infer_says_why_it_refuses_and_takes_the_same_reading_options(tmp_path: Path) -> None:
    comment = tmp_path / "c.csv"
    comment.write_bytes(b"# clean this data!\nid,name\n1,a\n2,b\n")
    refused = run("infer", str(comment))
    assert refused.returncode == 2
    assert "typecheck: warning: the header row 1 holds one cell" in refused.stderr
    assert "have more or fewer fields than the header" in refused.stderr
    inferred = run("infer", str(comment), "--header-row", "auto")
    assert inferred.returncode == 0, inferred.stderr
    assert "took row 2 as the header" in inferred.stderr
    (tmp_path / "c.json").write_text(inferred.stdout)
    assert list(json.loads(inferred.stdout)["properties"]) == ["id", "name"]
    checked = run("validate", str(comment), "--schema", str(tmp_path / "c.json"), "--header-row", "auto")
    assert checked.returncode == 0, checked.stdout


def test_a_rule_that_fails_its_own_cells_is_loosened_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    """Should the inference and the engine ever read a column differently, the column is left
    unconstrained, with a warning, rather than a schema its own file fails."""
    from airflow_provider_typecheck.validation import infer

    path = tmp_path / "d.csv"
    path.write_text("id,name\n1,a\n2,b\n")
    wrong = {"type": "integer", "maximum": 1}  # as if the inference had misread the column
    real = infer._column_schema
    monkeypatch.setattr(infer, "_column_schema", lambda values, **kw: dict(wrong) if values.name == "id" else real(values, **kw))
    warnings: list[str] = []
    schema = infer_schema(path, warnings=warnings)
    assert schema["properties"]["id"] == {}
    assert schema["required"] == ["name"]
    assert any("column(s) 'id' failed some of their own cells" in warning for warning in warnings)
    assert validate_file(path, schema).is_valid
