"""docker-compose.yml, checked for structure (no Docker engine here): services, images, health, settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from airflow_provider_typecheck.settings import TypecheckSettings

ROOT = Path(__file__).resolve().parents[2]
INFRA_IMAGES = {"postgres": "postgres:17", "redis": "redis:7", "rabbitmq": "rabbitmq:4-management", "mongo": "mongo:7"}
AIRFLOW_SERVICES = {"airflow-api-server": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer"}
STORE_VOLUME = "typecheck-data:/data/typecheck"
DATA_VOLUME = "airflow-data:/opt/airflow/data"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_full_stack_is_there(compose) -> None:
    services = compose["services"]
    assert set(services) == {*INFRA_IMAGES, *AIRFLOW_SERVICES, "airflow-init", "typecheck-worker", "typecheck-api",
                             "prometheus"}
    for name, image in INFRA_IMAGES.items():
        assert services[name]["image"] == image
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == [command]
        assert services[name]["image"] == "airflow-provider-typecheck:latest"
    assert services["typecheck-worker"]["entrypoint"][:2] == ["typecheck", "worker"]
    assert services["typecheck-api"]["entrypoint"][:2] == ["typecheck", "api"]
    assert services["typecheck-worker"]["deploy"]["replicas"] == "${TYPECHECK_WORKER_REPLICAS:-2}"


def test_the_image_is_the_official_airflow_3_3_with_the_package(compose) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.11$", dockerfile, re.MULTILINE)
    assert 'pip install --no-cache-dir "/opt/typecheck"' in dockerfile
    assert compose["services"]["airflow-api-server"]["build"] == "."


def test_services_others_wait_on_have_health_checks(compose) -> None:
    services = compose["services"]
    awaited = {dep for svc in services.values() for dep, cond in (svc.get("depends_on") or {}).items()
               if cond["condition"] == "service_healthy"}
    assert awaited == set(INFRA_IMAGES)
    for name in (*INFRA_IMAGES, *AIRFLOW_SERVICES, "typecheck-api"):
        assert services[name]["healthcheck"]["test"], name
    assert "healthcheck/simple" in services["typecheck-api"]["healthcheck"]["test"][-1]


def test_every_variable_is_one_the_package_or_airflow_reads(compose) -> None:
    fields = set(TypecheckSettings.model_fields)
    conn_ids = {getattr(TypecheckSettings(), f"{name}_conn_id") for name in ("postgres", "redis", "rabbitmq", "mongo")}
    for name in ("typecheck-worker", "typecheck-api", "airflow-scheduler"):
        env = compose["services"][name]["environment"]
        for variable in env:
            if variable.startswith("TYPECHECK_"):
                assert variable.removeprefix("TYPECHECK_").lower() in fields, variable
            elif variable.startswith("AIRFLOW_CONN_"):
                assert variable.removeprefix("AIRFLOW_CONN_").lower() in conn_ids, variable
            else:
                assert variable.startswith("AIRFLOW__"), variable
        assert env["AIRFLOW_CONN_RABBITMQ_DEFAULT"].startswith("amqp://")
        assert env["TYPECHECK_STORAGE_URI"] == "file:///data/typecheck"
        assert STORE_VOLUME in compose["services"][name]["volumes"]


def test_env_example_names_every_required_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert required <= example
    assert {"TYPECHECK_JWT_SECRET", "TYPECHECK_FIRST_ADMIN_PASSWORD", "RABBITMQ_PASSWORD"} <= required
    # Secrets have no value in the example: nothing to forget to change.
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.split("=", 1)[0] in required:
            assert line.endswith("="), line


def test_every_component_and_worker_sees_the_same_data_and_settings(compose) -> None:
    """The example DAGs' files and quarantine, the file store and the Redis prefix are the same everywhere."""
    services = compose["services"]
    for name in (*AIRFLOW_SERVICES, "typecheck-worker", "typecheck-api"):
        volumes = services[name]["volumes"]
        assert DATA_VOLUME in volumes and STORE_VOLUME in volumes, name
        assert not any(volume.startswith("./examples") for volume in volumes), name
        env = services[name]["environment"]
        assert env["TYPECHECK_REDIS_PREFIX"] == "${TYPECHECK_REDIS_PREFIX:-typecheck:}", name
        assert env["TYPECHECK_STORAGE_URI"] == "file:///data/typecheck", name
    seed = services["airflow-init"]["command"][-1]
    assert "/opt/airflow/data/" in seed and "users.csv" in seed and "users.schema.json" in seed
    assert "chown airflow:root /opt/airflow/data /data/typecheck" in (ROOT / "Dockerfile").read_text()


def test_prometheus_scrapes_the_api_and_every_worker(compose) -> None:
    config = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["typecheck-api"]["static_configs"][0]["targets"] == ["typecheck-api:8000"]
    assert jobs["typecheck-api"]["metrics_path"] == "/metrics"
    worker = compose["services"]["typecheck-worker"]["entrypoint"]
    port = int(worker[worker.index("--metrics-port") + 1])
    assert jobs["typecheck-worker"]["dns_sd_configs"][0] == {
        "names": ["typecheck-worker"], "type": "A", "port": port, "refresh_interval": "15s"}
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
