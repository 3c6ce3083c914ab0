"""The package is an Airflow provider: the entry point is found and its metadata is right."""

from __future__ import annotations

from importlib.metadata import entry_points


def test_entry_point_returns_the_distribution_name() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_typecheck")]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-typecheck"


def test_providers_manager_lists_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "airflow-provider-typecheck" in providers
    assert providers["airflow-provider-typecheck"].data["name"] == "Typecheck"
