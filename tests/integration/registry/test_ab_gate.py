"""With ab_test enabled the gate starts an A/B experiment instead of promoting a better challenger.

Runs on a SQLite MLflow store (not the session's `mlflow server`): the gate's registry calls are the
same, and the test does not wait for a server to start.
"""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.config.models import ModelConfig
from driftline.experiments.store import list_experiments
from driftline.registry.champion import read_aliases
from driftline.registry.gate import run_gate
from driftline.registry.registration import register_training_run
from registry_helpers import log_training_run, registry_config, synthetic_frame


@pytest.fixture
def server_hook(driftline_home):
    from driftline.mlflow_store import MlflowStore

    return MlflowStore(f"sqlite:///{driftline_home / 'mlflow' / 'mlflow.db'}")


START = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)


def ab_config(name: str) -> ModelConfig:
    data = registry_config(name).model_dump(mode="json")
    data["inference"] = {"table": f"{name}-predictions"}
    data["ab_test"] = {
        "challenger_share": 0.2,
        "outcomes": {
            "source": {"kind": "local", "path": "unused/outcomes/{ds}.parquet"},
            "entity_id": "id",
            "date": "day",
            "kpi": "revenue",
        },
    }
    return ModelConfig.model_validate(data)


def test_a_better_challenger_starts_an_experiment_and_the_champion_stays(
    server_hook, model_name, snapshot_dir
):
    from driftline.data.snapshots import mark, write_snapshot

    evaluation = mark(
        write_snapshot(synthetic_frame(seed=11), str(snapshot_dir / "training.parquet"), {}), "validated"
    ).to_dict()
    config = ab_config(model_name)
    out = []
    for n, weak in enumerate((True, False), start=1):
        training = log_training_run(server_hook, model_name, run_id=f"scheduled__{n}", weak=weak, seed=n)
        registered = register_training_run(
            server_hook, config, training, dag_id="driftline__test", run_id=f"scheduled__{n}"
        )
        out.append(
            run_gate(
                server_hook,
                config,
                registered,
                evaluation,
                actor="a",
                op_key=f"driftline__test/scheduled__{n}",
                data_start=START,
                data_time=START + dt.timedelta(days=1),
            )
        )
    first, second = out
    assert (
        first["decision"] == "promoted" and "experiment" not in first
    )  # the first champion: nothing to test against
    assert second["decision"] == "ab_test" and second["promotion"] is None
    assert second["experiment"]["outcome"] == "started"
    assert second["reason"].endswith(
        f"instead of promoting: started experiment #1 of {model_name!r}: challenger v2 vs champion v1 "
        "(champion 80%, challenger 20%), running since 2026-01-20 00:00 UTC"
    )
    assert read_aliases(server_hook, model_name) == {"champion": 1, "challenger": 2}
    tags = server_hook.client.get_model_version(model_name, "2").tags
    assert tags["driftline.gate.decision"] == "ab_test"
    # a retry of the same run gives the same experiment, not a second one
    registered = {"name": model_name, "version": 2, "run_id": ""}
    again = run_gate(
        server_hook, config, registered, evaluation, actor="a", op_key="driftline__test/scheduled__2"
    )
    assert again["experiment"]["experiment"] == second["experiment"]["experiment"]
    [experiment] = list_experiments(server_hook.client, model_name)
    assert (experiment.champion_version, experiment.challenger_version, experiment.status) == (
        1,
        2,
        "running",
    )
    assert experiment.salt == f"{model_name}:v2" and experiment.shares["challenger"] == 0.2
    assert experiment.started_at == START  # the data time of the first window its arms are scored on
