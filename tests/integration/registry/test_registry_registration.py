"""Registration against a real `mlflow server`: tags, challenger alias, idempotency, bad input."""

from __future__ import annotations

import pytest
from driftline.registry.audit import history
from driftline.registry.champion import get_champion, read_aliases
from driftline.registry.errors import RegistryInputError
from driftline.registry.registration import register_training_run
from registry_helpers import log_training_run, registry_config


def test_register_sets_contract_tags_and_challenger(server_hook, model_name):
    config = registry_config(model_name)
    training = log_training_run(server_hook, model_name, dag_id="driftline__x", run_id="scheduled__1")

    out = register_training_run(server_hook, config, training, dag_id="driftline__x", run_id="scheduled__1")

    assert out == {"name": model_name, "version": 1, "run_id": training["run_id"]}
    tags = server_hook.client.get_model_version(model_name, "1").tags
    assert tags["driftline.training_run_id"] == training["run_id"]
    assert tags["driftline.snapshot_uri"] == training["snapshot_uri"]
    assert tags["driftline.snapshot_sha256"] == "ab" * 32
    assert tags["driftline.trained_until"] == training["trained_until"]
    assert tags["driftline.metric_name"] == "roc_auc"
    assert float(tags["driftline.metric.roc_auc"]) == pytest.approx(training["metrics"]["roc_auc"])
    assert len(tags) <= 10, sorted(tags)  # the few a person reads; the training run holds the rest
    assert tags["airflow.dag_id"] == "driftline__x"
    assert tags["airflow.run_id"] == "scheduled__1"
    assert "driftline.registered_at" in tags
    assert read_aliases(server_hook, model_name) == {"challenger": 1}
    assert get_champion(server_hook, model_name) is None
    [entry] = history(server_hook, model_name)
    assert (entry.seq, entry.alias, entry.from_version, entry.to_version, entry.action) == (
        1,
        "challenger",
        None,
        1,
        "register",
    )


def test_register_is_idempotent_per_airflow_run_and_training_run(server_hook, model_name):
    config = registry_config(model_name)
    first = log_training_run(server_hook, model_name, run_id="scheduled__1")
    a = register_training_run(server_hook, config, first, dag_id="driftline__test", run_id="scheduled__1")
    # a retry of the same Airflow run: same version, even with a retrained run
    again = register_training_run(server_hook, config, first, dag_id="driftline__test", run_id="scheduled__1")
    retrained = log_training_run(server_hook, model_name, run_id="scheduled__1", seed=1)
    b = register_training_run(server_hook, config, retrained, dag_id="driftline__test", run_id="scheduled__1")
    # the same training run registered from another DAG run (e.g. a manual re-trigger): same version
    c = register_training_run(server_hook, config, first, dag_id="driftline__test", run_id="manual__9")
    assert a["version"] == again["version"] == b["version"] == c["version"] == 1
    # a new Airflow run with a new training run: a new version, challenger moves
    second = log_training_run(server_hook, model_name, run_id="scheduled__2", seed=2)
    d = register_training_run(server_hook, config, second, dag_id="driftline__test", run_id="scheduled__2")
    assert d["version"] == 2
    versions = server_hook.client.search_model_versions(f"name = '{model_name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert read_aliases(server_hook, model_name) == {"challenger": 2}
    assert [(e.from_version, e.to_version) for e in history(server_hook, model_name)] == [(None, 1), (1, 2)]


def test_register_rejects_unknown_run_and_missing_run_id(server_hook, model_name):
    config = registry_config(model_name)
    with pytest.raises(RegistryInputError, match="does not exist"):
        register_training_run(server_hook, config, {"run_id": "0" * 32}, dag_id="d", run_id="r")
    with pytest.raises(RegistryInputError, match="has no 'run_id'"):
        register_training_run(server_hook, config, {"metrics": {}}, dag_id="d", run_id="r")


def test_register_rejects_run_without_model(server_hook, model_name):
    config = registry_config(model_name)
    exp = server_hook.get_or_create_experiment(f"driftline-{model_name}")
    run = server_hook.client.create_run(exp)
    with pytest.raises(RegistryInputError, match="no model logged under 'model'"):
        register_training_run(server_hook, config, {"run_id": run.info.run_id}, dag_id="d", run_id="r")


def test_register_on_a_local_store_ignores_the_process_wide_tracking_uri(
    driftline_home, model_name, monkeypatch
):
    """A local (SQLite) store named only by the connection: MLflow's SQL registry resolved the run's
    `models:/m-...` source through the *process-wide* tracking URI (its own TODO), so under a worker
    whose default store is another one, `register` failed with "Logged model ... not found"."""
    import mlflow
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook("mlflow_default")
    assert hook.is_local_store
    training = log_training_run(hook, model_name, run_id="scheduled__1")
    elsewhere = f"sqlite:///{driftline_home / 'another-store.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", elsewhere)
    mlflow.set_tracking_uri(elsewhere)
    try:
        out = register_training_run(hook, registry_config(model_name), training, run_id="scheduled__1")
    finally:
        mlflow.set_tracking_uri(hook.tracking_uri)
    assert out["version"] == 1
    version = hook.client.get_model_version(model_name, "1")
    assert version.run_id == training["run_id"]
    assert read_aliases(hook, model_name) == {"challenger": 1}
