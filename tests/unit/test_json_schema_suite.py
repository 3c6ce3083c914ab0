"""The conformance suite is the vendored copy, or where the setting says."""

from __future__ import annotations

from pathlib import Path

from tests.json_schema_suite import ENV, VENDORED, suite_root


def test_the_vendored_suite_is_used_by_default() -> None:
    assert suite_root({}) == VENDORED
    assert (VENDORED / "tests" / "draft2020-12").is_dir()
    assert (VENDORED / "LICENSE").is_file()


def test_the_setting_wins() -> None:
    assert suite_root({ENV: "/opt/suite"}) == Path("/opt/suite")
