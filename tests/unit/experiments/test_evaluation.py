"""One look at an experiment: the join with recomputed arms, unassigned outcomes, max_days, the report."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from driftline.experiments.assignment import assign_arms
from driftline.experiments.evaluation import (
    evaluate,
    evaluation_record,
    join_outcomes,
    kpi_plot,
    plan_for,
    report_markdown,
)
from driftline.experiments.store import Experiment

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ab():
    from driftline.config.models import AbTestSection

    return AbTestSection.model_validate(
        {
            "challenger_share": 0.3,
            "holdout_share": 0.1,
            "no_model_default": 0,
            "outcomes": {
                "source": {"kind": "local", "path": "x/{ds}.parquet"},
                "entity_id": "id",
                "date": "day",
                "kpi": "kpi",
            },
            "decision": {"min_samples_per_arm": 200, "max_days": 28, "guardrails": {"revenue": 0.05}},
        }
    )


def _experiment(holdout: float = 0.1) -> Experiment:
    return Experiment(
        model="churn",
        champion_version=1,
        challenger_version=2,
        started_at=START,
        shares={"champion": 0.6 - holdout + 0.1, "challenger": 0.3, "no_model": holdout},
        salt="churn:v2",
        status="running",
        id=1,
    )


def _outcomes(experiment: Experiment, lift: float, days: int = 10, per_day: int = 600, seed: int = 0):
    """Daily outcomes of scored entities (KPI ~ N(10, 2), +lift for the challenger) plus strangers."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"e{i}" for i in range(days * per_day)])
    arms = assign_arms(
        ids, salt=experiment.salt, challenger_share=0.3, holdout_share=experiment.shares["no_model"]
    )
    kpi = (
        rng.normal(10, 2, len(ids))
        + np.where(arms == "challenger", lift, 0.0)
        - np.where(arms == "no_model", 1, 0)
    )
    date = START + pd.to_timedelta(np.repeat(np.arange(days), per_day), unit="D")
    scored = pd.DataFrame(
        {"entity_id": ids, "date": date, "kpi": kpi, "revenue": rng.normal(100, 5, len(ids))}
    )
    strangers = pd.DataFrame(
        {"entity_id": ["x1", "x2", "x2"], "date": [START] * 3, "kpi": [1.0, 2.0, 3.0], "revenue": [1.0] * 3}
    )
    return pd.concat([scored, strangers], ignore_index=True), ids


def test_join_counts_never_assigned_outcomes_and_averages_per_entity() -> None:
    experiment = _experiment()
    outcomes, ids = _outcomes(experiment, lift=0.5)
    # an entity with two outcomes counts once, with its mean
    twice = pd.DataFrame({"entity_id": [ids[0]], "date": [START], "kpi": [0.0], "revenue": [0.0]})
    joined = join_outcomes(pd.concat([outcomes, twice]), experiment, ids, guardrails=["revenue"])
    assert (joined.unassigned, joined.unassigned_entities) == (3, 2)
    assert sum(len(s.kpi) for s in joined.samples.values()) == len(ids)
    assert joined.assigned == {
        arm: int((assign_arms(ids, salt="churn:v2", challenger_share=0.3, holdout_share=0.1) == arm).sum())
        for arm in ("champion", "challenger", "no_model")
    }
    assert set(joined.daily["arm"]) == {"champion", "challenger", "no_model"} and len(joined.daily) == 30


def test_a_better_challenger_is_promoted_and_reported(tmp_path) -> None:
    experiment = _experiment()
    outcomes, ids = _outcomes(experiment, lift=0.5)
    ab = _ab()
    joined = join_outcomes(outcomes, experiment, ids, guardrails=list(ab.decision.guardrails))
    decision = evaluate(joined, plan_for(ab, experiment))
    assert decision.action == "promote", decision.reason
    assert decision.unassigned == 3
    record = evaluation_record(decision, joined)
    assert set(record["arms"]) == {"champion", "challenger", "no_model"}
    assert record["arms"]["no_model"]["n"] == joined.assigned["no_model"]
    kpi_plot(joined.daily, str(tmp_path / "kpi.png"), "churn")
    assert (tmp_path / "kpi.png").read_bytes()[:4] == b"\x89PNG"
    report = report_markdown(experiment, decision, joined, "kpi.png")
    assert "## Decision: **promote**" in report and "mSPRT" in report
    assert "never assigned (not scored during the experiment): **3** rows of 2 entities" in report
    assert "![KPI per arm](kpi.png)" in report


def test_no_verdict_by_max_days_stops() -> None:
    experiment = _experiment(holdout=0.0)
    outcomes, ids = _outcomes(experiment, lift=0.0, days=2, per_day=300)
    ab = _ab()
    joined = join_outcomes(outcomes, experiment, ids)
    plan = plan_for(ab, experiment)
    assert evaluate(joined, plan, days_running=3, max_days=28).action == "continue"
    stopped = evaluate(joined, plan, days_running=28, max_days=28)
    assert stopped.action == "stop" and "ab_test.decision.max_days 28" in stopped.reason
