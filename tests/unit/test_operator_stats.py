"""The validate operator reports each validation to Airflow's own metrics (Stats)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.observability import stats

from airflow_provider_typecheck.operators.validate import SpreadsheetValidateOperator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _Recorder:
    """A Stats backend that keeps what it was sent (Airflow's ``initialize(factory=...)`` seam)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def incr(self, stat: str, count: int = 1, **_: Any) -> None:
        self.sent.append(("incr", stat, count))

    def timing(self, stat: str, dt: Any, **_: Any) -> None:
        self.sent.append(("timing", stat, dt))


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    backend = _Recorder()
    stats.initialize(factory=lambda: backend, export_legacy_names=False)
    yield backend
    stats.initialize(factory=NoStatsLogger, export_legacy_names=False)


def test_each_validation_reports_rows_invalid_rows_state_and_duration(recorder: _Recorder, tmp_path: Path) -> None:
    data = tmp_path / "users.csv"
    shutil.copy(EXAMPLES / "users.csv", data)
    operator = SpreadsheetValidateOperator(task_id="check", import_name="users", file=str(data),
                                           schema_path=str(EXAMPLES / "users.schema.json"))

    with pytest.raises(AirflowFailException):  # the sample has invalid rows
        operator.execute({})

    sent = {(kind, stat): value for kind, stat, value in recorder.sent}
    assert sent[("incr", "typecheck.validation.rows")] == 10
    assert sent[("incr", "typecheck.validation.invalid_rows")] == 7
    assert sent[("incr", "typecheck.validation.invalid")] == 1
    assert isinstance(sent[("timing", "typecheck.validation.duration")], timedelta)
