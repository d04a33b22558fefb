"""MlflowHook: the tracking URI comes from the configured connection; nothing falls back silently."""

from __future__ import annotations

import json

import pytest
from driftline.exceptions import PermanentError, RegistryError
from driftline.hooks.mlflow import MlflowConnectionError, MlflowHook


def test_a_missing_connection_is_a_clear_permanent_error(driftline_home, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_MLFLOW_LOCAL_STORE", raising=False)
    with pytest.raises(MlflowConnectionError) as info:
        _ = MlflowHook("mlflow_prod_typo").tracking_uri
    message = str(info.value)
    assert "the MLflow connection 'mlflow_prod_typo' (registry.mlflow_conn_id) does not exist" in message
    assert "AIRFLOW_CONN_MLFLOW_PROD_TYPO" in message and "DRIFTLINE_MLFLOW_LOCAL_STORE=1" in message
    assert isinstance(info.value, PermanentError)


def test_the_local_store_only_when_asked_for_explicitly(driftline_home, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_MLFLOW_LOCAL_STORE", "1")
    assert MlflowHook("not_defined").tracking_uri == f"sqlite:///{driftline_home / 'mlflow' / 'mlflow.db'}"


def test_the_connection_may_point_at_sqlite_or_a_server(driftline_home, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_LOCAL",
        json.dumps({"conn_type": "http", "extra": {"tracking_uri": "sqlite:///x.db"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_SERVER",
        json.dumps({"conn_type": "http", "host": "mlflow.internal", "port": 5000, "schema": "https"}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_EMPTY", json.dumps({"conn_type": "http"}))
    assert MlflowHook("mlflow_local").tracking_uri == "sqlite:///x.db"
    assert MlflowHook("mlflow_server").tracking_uri == "https://mlflow.internal:5000"
    with pytest.raises(
        MlflowConnectionError, match=r"'mlflow_empty' has neither a host nor extra.tracking_uri"
    ):
        _ = MlflowHook("mlflow_empty").tracking_uri


def test_an_unreadable_connection_is_a_retryable_error_not_a_fallback(driftline_home, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_MLFLOW_LOCAL_STORE", "1")  # even then: only "does not exist" may use it

    def outage(conn_id: str) -> None:
        raise ConnectionError("secrets backend unreachable")

    monkeypatch.setattr(MlflowHook, "get_connection", staticmethod(outage))
    with pytest.raises(
        RegistryError, match=r"cannot read the MLflow connection 'mlflow_default'.*unreachable"
    ) as info:
        _ = MlflowHook().tracking_uri
    assert not isinstance(info.value, PermanentError)


def test_operators_take_the_conn_id_from_the_config(example_config):
    from driftline.operators.drift import CheckDriftOperator
    from driftline.operators.registry import RollbackOperator

    config = example_config.model_copy(deep=True)
    config.registry.mlflow_conn_id = "mlflow_prod"
    assert CheckDriftOperator(task_id="c", current={}, model_config=config).mlflow_conn_id == "mlflow_prod"
    assert RollbackOperator(task_id="r", model_config=config).mlflow_conn_id == "mlflow_prod"
    assert (
        CheckDriftOperator(task_id="d", current={}, model_config=config, mlflow_conn_id="x").mlflow_conn_id
        == "x"
    )
