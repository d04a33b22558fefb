"""The decision's stops, configured through ab_test.decision and reached: futility (min_effect),
max_samples_per_arm, max_days, and min_effect / mixing_variance setting the mSPRT's mixing variance."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from driftline.experiments.decision import ArmSample, decide
from driftline.experiments.evaluation import plan_for
from driftline.experiments.store import Experiment

SHARES = {"champion": 0.5, "challenger": 0.5}


def _ab(**decision):
    from driftline.config.models import AbTestSection

    return AbTestSection.model_validate(
        {
            "challenger_share": 0.5,
            "outcomes": {
                "source": {"kind": "local", "path": "x/{ds}.parquet"},
                "entity_id": "id",
                "date": "day",
                "kpi": "kpi",
            },
            "decision": {"min_samples_per_arm": 100, **decision},
        }
    )


def _experiment() -> Experiment:
    return Experiment(
        model="churn", champion_version=1, challenger_version=2,
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), shares=SHARES, salt="s", status="running", id=1,
    )  # fmt: skip


def _null(n: int, seed: int = 0) -> dict[str, ArmSample]:
    rng = np.random.default_rng(seed)
    return {"champion": ArmSample(rng.normal(10, 1, n)), "challenger": ArmSample(rng.normal(10, 1, n))}


def test_the_config_carries_min_effect_mixing_variance_futility_and_max_samples():
    plan = plan_for(_ab(min_effect=0.2, max_samples_per_arm=5000, futility=False), _experiment())
    assert (plan.min_effect, plan.max_samples_per_arm, plan.futility) == (0.2, 5000, False)
    assert decide(_null(2000), plan).mixing_variance == pytest.approx(0.04)
    explicit = plan_for(_ab(min_effect=0.2, mixing_variance=0.5), _experiment())
    assert decide(_null(2000), explicit).mixing_variance == 0.5


def test_futility_stop_fires_when_no_effect_of_min_effect_is_left():
    plan = plan_for(_ab(min_effect=0.2), _experiment())
    d = decide(_null(20_000), plan)
    assert d.action == "stop" and "no effect of min_effect" in d.reason
    # switched off, the same data continue
    off = plan_for(_ab(min_effect=0.2, futility=False), _experiment())
    assert decide(_null(20_000), off).action == "continue"


def test_max_samples_stop_fires_without_a_verdict():
    plan = plan_for(_ab(max_samples_per_arm=500), _experiment())
    assert decide(_null(400), plan).action == "continue"
    d = decide(_null(600), plan)
    assert d.action == "stop" and "max_samples_per_arm 500" in d.reason


def test_config_rejects_a_max_samples_below_min_samples():
    from driftline.experiments.errors import ExperimentInputError

    with pytest.raises(ExperimentInputError, match="max_samples_per_arm"):
        plan_for(_ab(min_samples_per_arm=1000, max_samples_per_arm=500), _experiment())


def _shifted(n: int, shift: float, seed: int = 1) -> dict[str, ArmSample]:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 1, n)
    b = rng.normal(10, 1, n)
    return {"champion": ArmSample(a), "challenger": ArmSample(b - b.mean() + a.mean() + shift)}


@pytest.mark.slow
def test_group_sequential_design_is_configured_and_uses_the_look_and_the_horizon():
    exp = _experiment()
    plan = plan_for(_ab(design="group_sequential", planned_looks=28), exp)
    assert (plan.design, plan.planned_looks, plan.look) == ("group_sequential", 28, 1)
    exp.decisions = [{"seq": i + 1} for i in range(27)]  # 27 earlier looks: this is the last
    last = plan_for(_ab(design="group_sequential", planned_looks=28), exp)
    assert last.look == 28
    # z of about 2.5: beyond the final bound (~2.0) but far below the first look's (~11)
    samples = _shifted(5000, 0.05)
    assert decide(samples, last).action == "promote"
    first = plan_for(_ab(design="group_sequential", planned_looks=28), _experiment())
    assert decide(samples, first).action == "continue"
    # the mSPRT on the same data is not yet sure: the design's power at the planned horizon
    msprt = plan_for(_ab(), _experiment())
    assert decide(samples, msprt).action == "continue"
    # nothing at the horizon: stop, the champion stays
    d = decide(_shifted(5000, 0.0), last)
    assert d.action == "stop" and "planned horizon" in d.reason
