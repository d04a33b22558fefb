"""A config change the champion cannot serve is caught before it breaks a run; a forced retrain recovers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from driftline.config.loader import load_config
from driftline.exceptions import ConfigError

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow


def _champion(example_config) -> object:
    """Version 1 of `churn`, trained on the example's features, logged with its signature, champion."""
    import mlflow
    import numpy as np
    import pandas as pd
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.promotion import promote
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({name: rng.normal(size=50) for name in example_config.feature_names})
    y = (X.iloc[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    hook = MlflowHook()
    hook.store.use_for_fluent_api()  # log_model below goes to the hook's store, whatever ran before
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, model.predict(X)))
    hook.client.create_registered_model("churn")
    hook.client.create_model_version("churn", source=info.model_uri, run_id=info.run_id)
    promote(hook, "churn", 1, None, "first", "test", details={"data_time": "2026-01-01T00:00:00+00:00"})
    return hook


def _without(tmp_path: Path, example_config_path: Path, feature: str) -> Path:
    data = yaml.safe_load(example_config_path.read_text())
    data["data"]["features"] = [f for f in data["data"]["features"] if f["name"] != feature]
    data["validation"]["expectations"] = [
        e for e in data["validation"]["expectations"] if e["kwargs"].get("column") != feature
    ]
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _context(force: bool) -> dict:
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {"force_retrain": force},
        "ti": SimpleNamespace(dag_id="driftline__churn", run_id="r", task_id="check_drift", try_number=1),
    }


def test_removing_a_feature_is_named_before_a_run_breaks(
    tmp_path, example_config, example_config_path, driftline_home, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns
    from driftline.cli import main
    from driftline.operators.drift import CheckDriftOperator
    from driftline.registry.signature import serving_problems

    hook = _champion(example_config)
    assert serving_problems(hook, example_config) == []
    path = _without(tmp_path, example_config_path, "support_calls")
    changed = load_config(path)
    problems = serving_problems(hook, changed)
    assert len(problems) == 1 and problems[0].startswith(
        "data.features: champion v1 of 'churn' was trained on ['support_calls'], which the config no longer lists"
    )
    assert "force_retrain" in problems[0]

    # driftline validate --champion says so, naming the file
    assert main(["validate", "--quick", "--champion", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"FAIL {path}: 1 error(s)" in err and "['support_calls']" in err

    # at run time: a config error naming the file and field (was sklearn's bare "columns are missing")
    current = {"uri": "/nowhere.parquet", "rows": 1, "sha256": ""}
    op = CheckDriftOperator(task_id="check_drift", model_config=changed, current=current)
    with pytest.raises(ConfigError) as caught:
        op.execute(_context(force=False))
    assert caught.value.path == str(path) and "data.features: champion v1" in str(caught.value)

    # with force_retrain the drift step is skipped with a clear reason, and decide_retrain retrains
    out = CheckDriftOperator(task_id="check_drift", model_config=changed, current=current).execute(
        _context(force=True)
    )
    assert out["data_drift"]["evaluated"] is False
    assert out["data_drift"]["reason"].startswith("not evaluated: champion v1 cannot serve this config")


def test_an_added_feature_is_named_too(
    tmp_path, example_config, example_config_path, driftline_home, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns
    from driftline.registry.signature import serving_problems

    hook = _champion(example_config)
    data = yaml.safe_load(example_config_path.read_text())
    data["data"]["features"].append({"name": "region", "type": "category"})
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = serving_problems(hook, load_config(path))
    assert problems and problems[0].startswith(
        "data.features: lists ['region'], which champion v1 of 'churn' was not trained on"
    )


def test_the_check_reads_the_connections_store_not_mlflows_process_wide_one(
    tmp_path, example_config, driftline_home, monkeypatch
):
    """Under the stack the process-wide MLflow URI is unset (a default SQLite file in the working
    folder): the signature check must read the champion through its own connection's store."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    from driftline.registry.signature import version_columns

    hook = _champion(example_config)
    elsewhere = tmp_path / "elsewhere.db"
    mlflow.set_tracking_uri(f"sqlite:///{elsewhere}")  # what a previous task in the process left
    mlflow.set_registry_uri(f"sqlite:///{elsewhere}")
    try:
        assert version_columns(hook.store, "churn", 1) == example_config.feature_names
    finally:
        hook.store.use_for_fluent_api()
    assert not elsewhere.exists(), "the check opened MLflow's process-wide store"
