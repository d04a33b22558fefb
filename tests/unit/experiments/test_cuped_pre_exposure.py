"""CUPED takes its covariate from before exposure, never from outcome rows inside the window."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from driftline.experiments.assignment import assign_arms
from driftline.experiments.decision import ArmSample, DecisionPlan, decide
from driftline.experiments.errors import ExperimentInputError
from driftline.experiments.evaluation import join_outcomes
from driftline.experiments.store import Experiment

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _experiment() -> Experiment:
    return Experiment(
        model="churn", champion_version=1, challenger_version=2, started_at=START,
        shares={"champion": 0.5, "challenger": 0.5}, salt="s", status="running", id=1,
    )  # fmt: skip


def _frames(seed: int, n: int = 6000, effect: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"e{i}" for i in range(n)])
    treated = (assign_arms(ids, salt="s", challenger_share=0.5, holdout_share=0.0) == "challenger").astype(
        float
    )
    base = rng.normal(10, 1, n)
    kpi = base + effect * treated + rng.normal(0, 0.5, n)
    inside = pd.DataFrame(
        {
            "entity_id": ids,
            "date": START + dt.timedelta(days=3),
            "kpi": kpi,
            "covariate": base + 0.04 * treated + rng.normal(0, 0.1, n),  # moved by the treatment
        }
    )
    pre = pd.DataFrame(
        {
            "entity_id": ids[: n - 100],  # 100 new entities have no pre-period: not adjusted
            "date": START - dt.timedelta(days=5),
            "kpi": base[: n - 100],
            "covariate": base[: n - 100] + rng.normal(0, 0.1, n - 100),
        }
    )
    return inside, pre, list(ids)


def _effect(joined) -> float:
    plan = DecisionPlan(min_samples_per_arm=100, covariate="covariate", min_effect=0.05)
    return float(decide(joined.samples, plan).effect or 0.0)


@pytest.mark.slow
def test_cuped_recovers_the_true_effect_from_the_pre_exposure_covariate():
    estimates = []
    for seed in range(20):
        inside, pre, ids = _frames(seed)
        joined = join_outcomes(inside, _experiment(), ids, covariate=True, pre_period=pre)
        estimates.append(_effect(joined))
    mean, mc = float(np.mean(estimates)), float(np.std(estimates, ddof=1) / np.sqrt(len(estimates)))
    assert abs(mean - 0.05) < 3 * mc + 0.003, (mean, mc)
    # the in-window covariate (the old join) shrinks it to about 0.01
    inside, pre, ids = _frames(0)
    moved = join_outcomes(inside, _experiment(), ids)
    samples = {
        arm: ArmSample(
            s.kpi,
            covariate=inside.set_index("entity_id").loc[moved_ids(inside, arm), "covariate"].to_numpy(),
        )
        for arm, s in moved.samples.items()
    }
    assert _effect_of(samples) < 0.03


def moved_ids(inside: pd.DataFrame, arm: str) -> list[str]:
    arms = assign_arms(inside["entity_id"].to_numpy(), salt="s", challenger_share=0.5, holdout_share=0.0)
    return list(inside["entity_id"][arms == arm])


def _effect_of(samples) -> float:
    return float(decide(samples, DecisionPlan(min_samples_per_arm=100, covariate="covariate")).effect or 0.0)


def test_cuped_without_the_pre_period_is_an_error_not_an_in_window_average():
    inside, _, ids = _frames(1, n=500)
    with pytest.raises(ExperimentInputError, match="pre-exposure"):
        join_outcomes(inside, _experiment(), ids, covariate=True)
