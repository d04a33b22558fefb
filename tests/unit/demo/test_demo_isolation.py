"""The demo keeps its state apart: a second demo deletes only the demo's own folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from driftline.demo import isolate, reset_demo_state


def _user_state(home: Path) -> list[Path]:
    """What a user has in DRIFTLINE_HOME: another model's MLflow store and snapshots, an Airflow DB, data."""
    files = [
        home / "mlflow" / "mlflow.db",
        home / "mlflow" / "artifacts" / "driftline" / "fraud" / "model.skops",
        home / "snapshots" / "fraud" / "scheduled__2026-01-02" / "current_window.parquet",
        home / "alerts" / "alerts.jsonl",
        home / "airflow" / "airflow.db",
        home / "data" / "churn" / "dt=2026-01-01" / "part-0.parquet",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"user data")
    return files


def test_isolate_points_everything_at_the_demo_folder(tmp_path):
    env = {
        "DRIFTLINE_HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": "http://mlflow.example:5000",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": "http://mlflow.example:5000",
    }
    home = isolate(env)
    assert home == tmp_path / "demo"
    assert env["DRIFTLINE_HOME"] == str(home)
    assert env["DRIFTLINE_DATA"] == str(tmp_path / "data")  # the example data is shared
    assert env["AIRFLOW_HOME"] == str(home / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow' / 'airflow.db'}"
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    assert "AIRFLOW_CONN_MLFLOW_DEFAULT" not in env
    assert env["DRIFTLINE_MLFLOW_LOCAL_STORE"] == "1"
    assert isolate(env) == home  # idempotent


def test_a_second_demo_keeps_the_users_models(tmp_path):
    user = _user_state(tmp_path)
    home = isolate({"DRIFTLINE_HOME": str(tmp_path)})
    demo_files = [
        home / "mlflow" / "mlflow.db",
        home / "snapshots" / "churn" / "x.parquet",
        home / "airflow" / "airflow.db",
    ]
    for path in demo_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"demo")
    removed = reset_demo_state(home)
    assert sorted(removed) == sorted({home / "mlflow", home / "snapshots", home / "airflow"})
    assert not any(path.exists() for path in demo_files)  # the demo's runs and their snapshots go together
    assert all(path.read_bytes() == b"user data" for path in user)


def test_reset_refuses_a_folder_that_is_not_the_demos(tmp_path):
    _user_state(tmp_path)
    with pytest.raises(ValueError, match="refusing to reset"):
        reset_demo_state(tmp_path)
    assert (tmp_path / "mlflow" / "mlflow.db").exists()


def test_the_ab_act_switches_ab_test_on_in_its_own_copy_of_the_config(tmp_path, example_config_path):
    from driftline.config import load_config
    from driftline.demo import enable_ab_test

    home = tmp_path / "demo"
    folder = enable_ab_test(home, example_config_path)
    assert folder == home / "configs"
    config = load_config(folder / "churn.yaml")
    assert config.ab_test is not None and config.ab_test.enabled
    assert config.model_copy(update={"ab_test": None}) == load_config(example_config_path).model_copy(
        update={"ab_test": None}
    )
    assert not load_config(example_config_path).ab_test.enabled  # the example itself is untouched
