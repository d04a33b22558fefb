"""Platform settings (DRIFTLINE_* variables and Airflow's [driftline] section) and the provider info."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema
import pytest
from driftline import settings
from driftline.provider import get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "driftline"
    (conn,) = info["connection-types"]
    assert conn["hook-class-name"] == "driftline.hooks.mlflow.MlflowHook"
    assert conn["connection-type"] == "mlflow"
    assert "tracking_uri" in conn["conn-fields"]
    assert set(info["config"]["driftline"]["options"]) >= {"home", "configs", "data", "snapshot_conn_id"}


def test_hook_class_in_provider_info_exists() -> None:
    from driftline.hooks.mlflow import MlflowHook

    assert MlflowHook.conn_type == get_provider_info()["connection-types"][0]["connection-type"]


def test_driftline_variable_wins_over_airflow_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import airflow.configuration  # noqa: F401  (a process running Airflow)

    monkeypatch.setenv("AIRFLOW__DRIFTLINE__HOME", str(tmp_path / "from-airflow"))
    monkeypatch.delenv("DRIFTLINE_HOME", raising=False)
    assert settings.driftline_home() == (tmp_path / "from-airflow").resolve()
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "from-driftline"))
    assert settings.driftline_home() == (tmp_path / "from-driftline").resolve()


def test_airflow_cfg_section_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.configuration import conf

    monkeypatch.delenv("DRIFTLINE_SNAPSHOT_CONN_ID", raising=False)
    monkeypatch.delenv("AIRFLOW__DRIFTLINE__SNAPSHOT_CONN_ID", raising=False)
    assert settings.snapshot_conn_id() is None
    if not conf.has_section("driftline"):
        conf.add_section("driftline")
    conf.set("driftline", "snapshot_conn_id", "s3_snapshots")
    try:
        assert settings.snapshot_conn_id() == "s3_snapshots"
    finally:
        conf.remove_option("driftline", "snapshot_conn_id")


def test_without_airflow_loaded_the_airflow_variable_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(__import__("sys").modules, "airflow.configuration", raising=False)
    monkeypatch.delenv("DRIFTLINE_DATA", raising=False)
    monkeypatch.setenv("AIRFLOW__DRIFTLINE__DATA", "/srv/data")
    assert settings.data_root() == Path("/srv/data").resolve()
    monkeypatch.delenv("AIRFLOW__DRIFTLINE__DATA")
    assert settings.setting("data", "fallback") == "fallback"
