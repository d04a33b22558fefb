"""docker/docker-compose.yaml validates against the compose specification's JSON Schema and is
wired as its header says (CeleryExecutor, every service present, files it mounts exist)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.unit.deploy.schemas import DOCKER, load_yaml, schema_errors, vendored_schema

COMPOSE = DOCKER / "docker-compose.yaml"
# Mounted files that engineer h16a's lane (Grafana dashboards, StatsD mapping) provides.
MONITORING_FILES = {"./statsd/mapping.yml", "./grafana/provisioning", "./grafana/dashboards"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    return vendored_schema("compose-spec")


def test_compose_file_validates_against_the_compose_spec(compose, compose_schema) -> None:
    assert schema_errors(compose, compose_schema) == []


def test_the_schema_rejects_a_broken_file(compose, compose_schema) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["redis"]["depends_on"] = 5
    broken["services"]["mlflow"]["restrat"] = "always"
    errors = schema_errors(broken, compose_schema)
    assert any(e.startswith("services/redis/depends_on") for e in errors), errors
    assert any("restrat" in e for e in errors), errors


def test_every_component_is_there(compose) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-init",
        "mlflow",
        "dynamodb",
        "predictions",
        "statsd-exporter",
        "prometheus",
        "grafana",
    }


def test_airflow_runs_celery_on_postgres_and_redis(compose) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    # YAML merge keys put the common block into every Airflow service
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
    ):
        service = compose["services"][name]
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # the LocalExecutor's forkserver preload is off; the Celery workers preload instead
    assert env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == ""
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "driftline.celery_preload.CELERY_CONFIG"
    worker_cmd = compose["services"]["airflow-worker"]["command"]
    assert worker_cmd == "celery worker"


def test_postgres_holds_three_databases(compose) -> None:
    env = compose["x-airflow-common"]["environment"]
    mlflow_cmd = " ".join(compose["services"]["mlflow"]["command"])
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "--backend-store-uri=postgresql+psycopg2://mlflow:" in mlflow_cmd
    assert "@postgres/mlflow" in mlflow_cmd
    assert "@postgres/driftline" in env["DRIFTLINE_COST_LEDGER_URL"]
    script = (DOCKER / "postgres" / "init-databases.sh").read_text()
    assert "CREATE DATABASE mlflow OWNER mlflow" in script
    assert "CREATE DATABASE driftline OWNER driftline" in script


def test_metrics_reach_grafana(compose) -> None:
    """Airflow -> StatsD (tagged names, docker/statsd/mapping.yml) -> Prometheus -> Grafana."""
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    exporter = compose["services"]["statsd-exporter"]
    assert "./statsd/mapping.yml:/etc/statsd/mapping.yml:ro" in exporter["volumes"]
    assert "--statsd.mapping-config=/etc/statsd/mapping.yml" in exporter["command"]
    prometheus = (DOCKER / "prometheus" / "prometheus.yml").read_text()
    assert "statsd-exporter:9102" in prometheus
    assert "--web.listen-address=:9102" in exporter["command"]


def test_references_resolve(compose) -> None:
    services = compose["services"]
    volumes = set(compose["volumes"])
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for dep in depends if isinstance(depends, list) else depends.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                if source in MONITORING_FILES or source.startswith("../.driftline"):
                    continue  # provided by another lane / generated by `make data`
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_published_ports_bind_loopback_only(compose) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_images_are_pinned(compose) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        image = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", image)
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image!r}"


def test_secrets_have_no_defaults(compose) -> None:
    """The JWT secret, Fernet key, Grafana password and API key come from docker/.env (compose-env.sh)."""
    text = COMPOSE.read_text()
    for var in (
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_FERNET_KEY",
        "GRAFANA_ADMIN_PASSWORD",
        "DRIFTLINE_API_KEY_SHA256",
    ):
        assert re.search(rf"\$\{{{var}:\?", text), var
        assert f"{var}:-" not in text, var
    script = (DOCKER / "compose-env.sh").read_text()
    for var in (
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_FERNET_KEY",
        "GRAFANA_ADMIN_PASSWORD",
        "DRIFTLINE_API_KEY_SHA256",
    ):
        assert f'"{var}"' in script, var
