"""``typecheck validate``: the schema file is checked once, and a broken one is still refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_typecheck import cli
from airflow_provider_typecheck.validation import SchemaError, load_schema, schema

WIDE = {"type": "object", "properties": {f"c{i}": {"type": "integer", "minimum": i} for i in range(50)},
        "required": ["c0"]}


def write(folder: Path, document: object) -> Path:
    path = folder / "schema.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(",".join(f"c{i}" for i in range(50)) + "\n" + ",".join(str(i) for i in range(50)) + "\n")
    return path


def test_the_schema_is_checked_once(tmp_path: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Every check walks the schema's nesting first (before its cached meta-validation).
    walks = []
    walk = schema._nesting_depth
    monkeypatch.setattr(schema, "_nesting_depth", lambda *args: walks.append(args) or walk(*args))
    code = cli.main(["validate", str(data_file), "--schema", str(write(tmp_path, WIDE))])
    assert code == cli.EXIT_VALID, capsys.readouterr()
    assert len(walks) == 1


@pytest.mark.parametrize(
    "document",
    [
        {"type": "object", "properties": {"a": {"type": "integr"}}},  # fails the meta-schema
        {"properties": {"a": {"pattern": "(unclosed"}}},
        {"$ref": "#"},  # loops
        {"properties": {"a": {"$ref": "https://example.com/s.json"}}},  # outside the schema
        [1, 2],  # not an object
    ],
)
def test_a_broken_schema_is_refused_as_load_schema_refuses_it(
    tmp_path: Path, data_file: Path, document: object, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(SchemaError) as raised:
        load_schema(path)
    code = cli.main(["validate", str(data_file), "--schema", str(path)])
    assert code == cli.EXIT_UNUSABLE
    assert capsys.readouterr().err == f"typecheck: error: {raised.value}\n"
