"""The local stack's settings: loopback, a login, airflow_settings.yaml as Airflow sees it, port overrides."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from driftline import devstack

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_ports_default_and_override():
    assert devstack.Ports.from_env({}) == devstack.Ports(8080, 5000, 4566)
    env = {
        "DRIFTLINE_AIRFLOW_PORT": "18080",
        "DRIFTLINE_MLFLOW_PORT": "15000",
        "DRIFTLINE_MOTO_PORT": "14566",
    }
    assert devstack.Ports.from_env(env) == devstack.Ports(18080, 15000, 14566)
    with pytest.raises(SystemExit, match=r"DRIFTLINE_AIRFLOW_PORT='http': expected a TCP port"):
        devstack.Ports.from_env({"DRIFTLINE_AIRFLOW_PORT": "http"})


def test_airflow_env_binds_loopback_and_requires_a_login(driftline_home: Path):
    ports = devstack.Ports(18080, 15000, 14566)
    env = devstack.airflow_env(
        ports, {"PATH": "/bin", "AIRFLOW_CONN_AWS_DEFAULT": "aws://", "AIRFLOW_CONN_X": "y"}
    )
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(devstack.passwords_file())
    # a connection of airflow_settings.yaml lives in Airflow's DB (editable in the UI), not in the environment
    assert "AIRFLOW_CONN_AWS_DEFAULT" not in env and env["AIRFLOW_CONN_X"] == "y"


def test_admin_password_is_generated_once_and_private(driftline_home: Path):
    first = devstack.admin_password()
    path = devstack.passwords_file()
    assert len(first) >= 20 and json.loads(path.read_text()) == {"admin": first}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert devstack.admin_password() == first


def test_connections_document_follows_port_overrides():
    settings = REPO_ROOT / "airflow_settings.yaml"
    doc = devstack.connections_document(settings, devstack.Ports(18080, 15000, 14566))
    assert doc["mlflow_default"] == {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": 15000,
        "schema": "http",
    }
    extra = json.loads(doc["aws_default"]["extra"])
    assert extra == {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:14566"}
    assert doc["aws_default"]["login"] == "testing"
    default = devstack.connections_document(settings, devstack.Ports(8080, 5000, 4566))
    assert default["mlflow_default"]["port"] == 5000
    assert [p["pool_name"] for p in devstack.pools(settings)] == ["gpu"]


def test_bad_settings_file_is_named(tmp_path: Path):
    bad = tmp_path / "airflow_settings.yaml"
    bad.write_text("airflow:\n  connections:\n    - conn_type: http\n")
    with pytest.raises(SystemExit, match=r"airflow.connections\[0\] needs conn_id and conn_type"):
        devstack.connections_document(bad, devstack.Ports(1, 2, 3))


def test_airflow_env_preloads_the_heavy_libraries_in_the_worker_pool(driftline_home: Path):
    ports = devstack.Ports(18080, 15000, 14566)
    env = devstack.airflow_env(ports, {"PATH": "/bin"})
    assert env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "forkserver"
    assert (
        env["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"]
        == "airflow.executors.local_executor,driftline.preload"
    )
    # a deployment's own choice wins
    mine = devstack.airflow_env(ports, {"PATH": "/bin", "AIRFLOW__SCHEDULER__MP_START_METHOD": "fork"})
    assert mine["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "fork"
