"""The experiment lifecycle: the gate starts, waits or replaces; inference stops a vanished challenger
and starts a waiting one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from driftline.config.models import ModelConfig
from driftline.experiments.lifecycle import (
    experiment_for_inference,
    start_for_challenger,
)
from driftline.experiments.store import current_experiment, list_experiments
from driftline.registry.retry import RetryPolicy

REPO = Path(__file__).resolve().parents[3]
FAST = {"policy": RetryPolicy(attempts=2, backoff=0.0, budget=5.0), "lock_ttl": 30.0, "lock_wait": 5.0}


def config(**ab):
    data = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    data["ab_test"].update({"enabled": True, "salt": None, **ab})
    data["data"]["source"]["path"] = "/tmp/x/dt={ds}/part.parquet"
    data["ab_test"]["outcomes"]["source"]["path"] = "/tmp/o/dt={ds}/part.parquet"
    return ModelConfig.model_validate(data)


def versions(client, n):
    for _ in range(n):
        client.create_model_version("churn", source="/tmp/driftline-ab-test/model")


def test_gate_starts_then_a_newer_challenger_waits_and_starts_when_the_first_is_gone(ab_client):
    versions(ab_client, 3)
    cfg = config()
    first = start_for_challenger(
        ab_client, cfg, champion_version=1, challenger_version=2, op_key="p/r2", **FAST
    )
    assert first.outcome == "started" and first.experiment.salt == "churn:v2"
    assert first.reason.startswith(
        "instead of promoting: started experiment #1 of 'churn': challenger v2 vs "
    )
    retry = start_for_challenger(
        ab_client, cfg, champion_version=1, challenger_version=2, op_key="p/r2", **FAST
    )
    assert retry.experiment == first.experiment and len(list_experiments(ab_client, "churn")) == 1

    newer = start_for_challenger(
        ab_client, cfg, champion_version=1, challenger_version=3, op_key="p/r3", **FAST
    )
    assert newer.outcome == "waiting" and newer.experiment.id == 1
    assert newer.reason.endswith(
        "is still running; ab_test.on_new_challenger is 'wait': challenger v3 starts its experiment once "
        "that one has ended"
    )
    assert [w["version"] for w in current_experiment(ab_client, "churn").waiting] == [3]

    # the challenger of the running experiment disappears from the registry mid-test
    ab_client.delete_model_version("churn", "2")
    seen = experiment_for_inference(ab_client, cfg, champion_version=1, op_key="p/r4", **FAST)
    assert seen.experiment is None and seen.stopped is not None and seen.stopped.status == "stopped"
    assert seen.notes == [
        "challenger version 2 of 'churn' disappeared from the registry mid-test: experiment #1 stopped, "
        "nothing promoted"
    ]
    # the next inference starts the challenger that waited, against the current champion
    day = dt.datetime(2026, 1, 27, tzinfo=dt.UTC)
    later = experiment_for_inference(
        ab_client, cfg, champion_version=1, op_key="p/r5", started_at=day, **FAST
    )
    assert later.experiment is not None and later.experiment.challenger_version == 3
    assert later.experiment.started_at == day
    assert later.experiment.id == 2 and later.experiment.salt == "churn:v3"
    again = experiment_for_inference(ab_client, cfg, champion_version=1, op_key="p/r5", **FAST)
    assert again.experiment == later.experiment and again.notes == []


def test_replace_policy_ends_the_running_experiment(ab_client):
    versions(ab_client, 3)
    cfg = config(on_new_challenger="replace")
    start_for_challenger(ab_client, cfg, champion_version=1, challenger_version=2, op_key="p/r2", **FAST)
    out = start_for_challenger(
        ab_client, cfg, champion_version=1, challenger_version=3, op_key="p/r3", **FAST
    )
    assert out.outcome == "replaced" and out.experiment.challenger_version == 3
    old, new = list_experiments(ab_client, "churn")
    assert old.status == "replaced"
    assert old.end_reason == "replaced by challenger v3 (ab_test.on_new_challenger is 'replace', run p/r3)"
    assert new.running


def test_disabled_ab_test_scores_champion_only(ab_client):
    cfg = config(enabled=False)
    assert (
        experiment_for_inference(ab_client, cfg, champion_version=1, op_key="p/r", **FAST).experiment is None
    )
    with pytest.raises(Exception, match="ab_test is not enabled"):
        start_for_challenger(ab_client, cfg, champion_version=1, challenger_version=2, op_key="p/r", **FAST)


def test_a_backfill_before_the_experiment_is_scored_by_the_champion_alone(ab_client):
    from driftline.experiments.lifecycle import experiment_for_inference, start_for_challenger

    cfg = config()
    versions(ab_client, 2)
    december = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    start_for_challenger(
        ab_client, cfg, champion_version=1, challenger_version=2, op_key="p/gate", started_at=december, **FAST
    )
    march = experiment_for_inference(
        ab_client,
        cfg,
        champion_version=1,
        op_key="p/march",
        started_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        **FAST,
    )
    assert march.experiment is None and "backfill" in march.notes[0]
    today = experiment_for_inference(
        ab_client,
        cfg,
        champion_version=1,
        op_key="p/dec2",
        started_at=december + dt.timedelta(days=1),
        **FAST,
    )
    assert today.experiment is not None and today.experiment.challenger_version == 2
