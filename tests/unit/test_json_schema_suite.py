"""The conformance suite is found beside the checkout, from a worktree too, or where the setting says."""

from __future__ import annotations

from pathlib import Path

from tests.json_schema_suite import ENV, candidates, checkout_roots, suite_root


def _checkout(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (path / "tests").mkdir()
    return path


def test_the_suite_beside_the_checkout_is_found(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "clone")
    (tmp_path / "shared" / "json-schema-test-suite" / "tests").mkdir(parents=True)

    assert suite_root(main / "tests" / "test_x.py") == tmp_path / "shared" / "json-schema-test-suite"


def test_a_worktree_looks_beside_its_main_checkout(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "main")
    (main / ".git" / "worktrees" / "feature").mkdir(parents=True)
    (tmp_path / "shared" / "json-schema-test-suite" / "tests").mkdir(parents=True)
    worktree = _checkout(tmp_path / "elsewhere" / "feature")
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'feature'}\n")

    assert checkout_roots(worktree / "tests") == [worktree, main]
    assert suite_root(worktree / "tests") == tmp_path / "shared" / "json-schema-test-suite"


def test_the_setting_wins(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "clone")
    assert candidates(main, {ENV: "/opt/suite"}) == [Path("/opt/suite")]


def test_a_missing_suite_is_named_where_it_was_looked_for(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "clone")
    assert suite_root(main / "tests") == (tmp_path / "shared" / "json-schema-test-suite").resolve()
    assert not (suite_root(main / "tests") / "tests").exists()
