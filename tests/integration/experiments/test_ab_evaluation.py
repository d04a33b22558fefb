"""The A/B evaluation steps against a real SQLite MLflow registry, the experiment store and local data.

The outcomes loader (driftline.experiments.outcomes, the `ab_test.outcomes` source) is another
lane's; here it is replaced by a function handing over the same standard-named frame, so these
tests cover the join with the scored entities, the decision, its record, the report artifacts,
the promotion and the experiment's end.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def setup(driftline_home, example_config, churn_generator, monkeypatch) -> dict[str, Any]:
    from driftline.experiments import store
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.promotion import promote

    churn_generator.generate(driftline_home / "data", START.date(), 6, rows=1500)
    config = example_config.model_copy(deep=True)
    config.ab_test.enabled = True
    config.ab_test.decision.min_samples_per_arm = 200
    hook = MlflowHook("mlflow_default")
    name = config.registered_model_name
    hook.client.create_registered_model(name)
    for _ in range(2):
        hook.client.create_model_version(name, source="file:///tmp/driftline-ab-test-model")
    promote(hook, name, 1, None, "first champion", "test")
    # what the gate writes before it starts an experiment (the promotion policy reads it)
    hook.client.set_model_version_tag(name, "2", "driftline.gate.decision", "ab_test")
    experiment = store.start_experiment(
        hook.client,
        name,
        champion_version=1,
        challenger_version=2,
        shares=config.ab_test.shares,
        salt=config.ab_test.salt_for(config.model.name, 2),
        op_key="driftline__churn/gate_run",
        no_model_default=0,
        started_at=START,
    )
    scored = pd.concat(
        pd.read_parquet(p) for p in sorted((driftline_home / "data" / "churn").glob("dt=*/*.parquet"))
    )
    # what the batch inference served, per data day (only served days count in the evaluation)
    from driftline.experiments.assignment import assign_arms

    days = pd.to_datetime(scored["event_time"], utc=True).dt.floor("D")
    for day in sorted(days.unique()):
        ids = scored.loc[days == day, "customer_id"].astype(str).to_numpy()
        arms = assign_arms(ids, salt=experiment.salt, challenger_share=0.3, holdout_share=0.1)
        store.record_served(
            hook.client, name, experiment.id, data_start=day.to_pydatetime(),
            data_end=(day + pd.Timedelta(days=1)).to_pydatetime(),
            arms={a: int((arms == a).sum()) for a in ("champion", "challenger", "no_model")},
            op_key=f"driftline__churn/scheduled__{day:%Y-%m-%d}",
        )  # fmt: skip
    return {"config": config, "hook": hook, "name": name, "experiment": experiment, "scored": scored}


def _outcomes(setup: dict[str, Any], lift: float) -> pd.DataFrame:
    from driftline.experiments.assignment import assign_arms

    scored, experiment = setup["scored"], setup["experiment"]
    rng = np.random.default_rng(3)
    ids = scored["customer_id"].astype(str).to_numpy()
    arms = assign_arms(ids, salt=experiment.salt, challenger_share=0.3, holdout_share=0.1)
    p = 0.6 + np.where(arms == "challenger", lift, 0.0) - np.where(arms == "no_model", 0.1, 0.0)
    frame = pd.DataFrame(
        {
            "entity_id": ids,
            "date": scored["event_time"].to_numpy(),
            "kpi": (rng.random(len(ids)) < p).astype(float),
            "label": 0,
            "covariate": (rng.random(len(ids)) < 0.6).astype(float),
            "revenue": rng.normal(50, 5, len(ids)),
        }
    )
    strangers = frame.iloc[:4].assign(entity_id=["Z1", "Z2", "Z3", "Z3"])
    # the pre-exposure period (before the experiment started): where CUPED's covariate comes from
    before = frame.assign(date=pd.Timestamp(START - dt.timedelta(days=2)))
    return pd.concat([before, frame, strangers], ignore_index=True)


def _use_outcomes(monkeypatch, frame: pd.DataFrame) -> None:
    from driftline.experiments import outcomes

    def load(ab: Any, start: dt.datetime, end: dt.datetime, access: Any = None) -> Any:
        return SimpleNamespace(df=frame[(frame["date"] >= start) & (frame["date"] < end)])

    monkeypatch.setattr(outcomes, "load_outcomes", load)


def _context(run_id: str) -> dict[str, Any]:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    dag_id = "driftline__churn__ab_evaluation"
    return {
        "ti": SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id="evaluate_experiment", try_number=1),
        "dag_run": SimpleNamespace(run_id=run_id, triggering_user_name=None),
        "data_interval_start": dt.datetime(2026, 1, 6, tzinfo=dt.UTC),
        "data_interval_end": dt.datetime(2026, 1, 7, tzinfo=dt.UTC),
        "params": {},
        "outlet_events": OutletEventAccessors(),
    }


def test_an_experiment_is_decided_recorded_reported_promoted_and_a_broken_one_halted(
    setup, monkeypatch, driftline_home
):
    from driftline.experiments import store
    from driftline.operators.approval import PromoteApprovedOperator
    from driftline.operators.experiments import CloseExperimentOperator, EvaluateExperimentOperator
    from driftline.registry.champion import read_aliases

    config, hook, name = setup["config"], setup["hook"], setup["name"]
    evaluate = EvaluateExperimentOperator(task_id="evaluate_experiment", model_config=config)
    # A first look on outcomes without a difference: keep running, with the samples still needed.
    _use_outcomes(monkeypatch, _outcomes(setup, lift=0.0))
    first = evaluate.execute(_context("scheduled__2026-01-05"))
    assert first["action"] == "continue", first["reason"]
    assert first["decision"]["samples_needed"] > 0 and first["promotion_request"] is None
    # The next look on outcomes where the challenger is truly better: promote.
    _use_outcomes(monkeypatch, _outcomes(setup, lift=0.12))
    ctx = _context("scheduled__2026-01-06")
    result = evaluate.execute(ctx)
    assert result["action"] == "promote", result["reason"]
    json.dumps(result, allow_nan=False)  # plain JSON types: safe for XCom and the store
    decision = result["decision"]
    assert decision["unassigned"] == 4 and decision["p_value"] <= config.ab_test.decision.alpha
    assert decision["cuped"]["covariate"] == "covariate"
    assert set(decision["guardrails"]) == {"revenue"}
    request = result["promotion_request"]
    assert (request["source"], request["version"], request["expected_champion"]) == ("ab_test", 2, 1)

    # Recorded first: the store has the decision and the per-arm summaries the cost lane reads.
    experiment = store.current_experiment(hook.client, name)
    assert [d["action"] for d in experiment.decisions] == ["continue", "promote"]
    assert set(experiment.last_evaluation["arms"]) == {"champion", "challenger", "no_model"}
    assert experiment.last_evaluation["unassigned"] == 4
    alerts = [json.loads(x) for x in (driftline_home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["experiment_decided"]
    assert alerts[0]["details"]["action"] == "promote"
    # A retry acts on the recorded decision and records nothing new (its alert repeats; routing dedupes).
    again = evaluate.execute(ctx)
    assert again["action"] == "promote"
    assert len(store.current_experiment(hook.client, name).decisions) == 2

    # The report and its plot are MLflow artifacts of this Airflow run.
    run_id = result["report"]["run_id"]
    artifacts = {a.path for a in hook.client.list_artifacts(run_id, "ab_report")}
    assert artifacts == {
        "ab_report/report.md",
        "ab_report/kpi_per_arm.png",
        "ab_report/kpi_per_arm_daily.csv",
    }
    local = hook.client.download_artifacts(run_id, "ab_report/report.md", str(driftline_home))
    text = open(local, encoding="utf-8").read()
    assert "## Decision: **promote**" in text and "**4** rows of 3 entities" in text

    # No approval configured: the promote step moves the alias; the experiment ends as promoted.
    promote = PromoteApprovedOperator(task_id="promote_challenger", model_config=config, decision=result)
    promoted = promote.execute(ctx)
    assert promoted["changed"] and read_aliases(hook, name)["champion"] == 2
    from driftline.registry.audit import history

    entry = [e for e in history(hook, name) if e.alias == "champion"][-1]
    assert entry.details["source"] == "ab_test" and entry.details["ab_result"]["action"] == "promote"
    assert entry.details["approval"] is None and "A/B test #1" in entry.reason
    close = CloseExperimentOperator(
        task_id="close_experiment", model_config=config, evaluation=result, promotion=promoted
    )
    assert close.execute(ctx)["status"] == "promoted"
    assert store.current_experiment(hook.client, name) is None

    # A second experiment whose challenger leaves the registry mid-test: halted, nothing promoted.
    hook.client.create_model_version(name, source="file:///tmp/driftline-ab-test-model")
    second = store.start_experiment(
        hook.client, name, champion_version=2, challenger_version=3, shares=config.ab_test.shares,
        salt=experiment.salt, op_key="driftline__churn/gate_run_2", started_at=START,
    )  # fmt: skip
    hook.client.delete_model_version(name, "3")
    halted = evaluate.execute(_context("scheduled__2026-01-07"))
    assert halted["action"] == "halt" and "has no version 3" in halted["reason"]
    assert halted["promotion_request"] is None
    assert store.get_experiment(hook.client, name, second.id).status == "halted"
    assert read_aliases(hook, name)["champion"] == 2
