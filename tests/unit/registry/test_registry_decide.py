"""The gate rule as a truth table (pure: no MLflow), and its false-promotion rate on equal models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftline.config.models import RegistrySection
from driftline.registry.errors import RegistryInputError
from driftline.registry.gate import decide
from driftline.training.bootstrap import PairedComparison, Predictions, paired_comparison, point_metric

MAX = {"metric": "roc_auc", "direction": "maximize"}
MIN = {"metric": "rmse", "direction": "minimize"}
SIG, NOT_SIG = 0.001, -0.001  # lower bounds of the improvement's one-sided interval


def _comparison(
    cfg: dict, challenger: float, champion: float | None, lower: float
) -> PairedComparison | None:
    if champion is None or math.isnan(champion) or math.isnan(challenger):
        return None
    sign = 1.0 if cfg["direction"] == "maximize" else -1.0
    improvement = sign * (challenger - champion)
    return PairedComparison(
        "paired bootstrap, t interval", cfg["metric"], cfg["direction"], 200, 1000, 1000, 0.05,
        improvement, lower, 2 * improvement - lower, 0.01, 0.01 if lower > 0 else 0.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cfg", "challenger", "champion", "lower", "expected"),
    [
        # maximize, with a champion: better by min_improvement AND significant
        ({**MAX, "min_improvement": 0.0}, 0.81, 0.80, SIG, "promoted"),
        ({**MAX, "min_improvement": 0.0}, 0.81, 0.80, NOT_SIG, "kept_champion"),  # noise
        ({**MAX, "min_improvement": 0.0}, 0.80, 0.80, 0.0, "kept_champion"),  # equal is not better
        ({**MAX, "min_improvement": 0.0}, 0.79, 0.80, NOT_SIG, "kept_champion"),
        ({**MAX, "min_improvement": 0.02}, 0.82, 0.80, SIG, "promoted"),  # exactly the required gain
        ({**MAX, "min_improvement": 0.02}, 0.82, 0.80, NOT_SIG, "kept_champion"),
        ({**MAX, "min_improvement": 0.02}, 0.815, 0.80, SIG, "kept_champion"),  # significant but small
        (
            {**MAX, "min_improvement": 0.0, "min_score": 0.99},
            0.81,
            0.80,
            SIG,
            "promoted",
        ),  # floor: first only
        # minimize, with a champion
        ({**MIN, "min_improvement": 0.5}, 9.4, 10.0, SIG, "promoted"),
        ({**MIN, "min_improvement": 0.5}, 9.4, 10.0, NOT_SIG, "kept_champion"),
        ({**MIN, "min_improvement": 0.5}, 9.6, 10.0, SIG, "kept_champion"),
        ({**MIN, "min_improvement": 0.0}, 10.5, 10.0, NOT_SIG, "kept_champion"),
        # no champion
        ({**MAX}, 0.55, None, SIG, "promoted"),  # no floor
        ({**MAX, "min_score": 0.6}, 0.6, None, SIG, "promoted"),
        ({**MAX, "min_score": 0.6}, 0.59, None, SIG, "rejected"),
        ({**MIN, "min_score": 5.0}, 4.0, None, SIG, "promoted"),
        ({**MIN, "min_score": 5.0}, 6.0, None, SIG, "rejected"),
        # unscorable
        ({**MAX, "min_score": 0.6}, 0.7, math.nan, SIG, "promoted"),  # champion NaN: judged like no champion
        ({**MAX, "min_score": 0.6}, 0.5, math.nan, SIG, "rejected"),
        ({**MAX}, math.nan, 0.8, SIG, "rejected"),
        ({**MAX}, math.nan, None, SIG, "rejected"),
    ],
)
def test_decide_truth_table(cfg, challenger, champion, lower, expected):
    comparison = _comparison(cfg, challenger, champion, lower)
    verdict = decide(challenger, champion, RegistrySection(**cfg), comparison)
    assert verdict.decision == expected, verdict.reason
    assert verdict.interval == (comparison.to_dict() if comparison else None)


def test_kept_champion_reason_names_both_numbers_the_requirement_and_the_interval():
    cfg = {**MAX, "min_improvement": 0.002}
    verdict = decide(0.8105, 0.8101, RegistrySection(**cfg), _comparison(cfg, 0.8105, 0.8101, NOT_SIG))
    assert verdict.decision == "kept_champion"
    assert verdict.reason.startswith(
        "improvement below min_improvement; challenger roc_auc 0.8105 vs champion 0.8101: "
        "improvement +0.0004 (higher is better), required >= 0.002; improvement +0.0004, one-sided 95% "
        "lower bound -0.001"
    )
    assert "paired bootstrap, t interval: 1000 of 1000 resamples of 200 rows" in verdict.reason
    assert verdict.improvement == pytest.approx(0.0004)


def test_not_significant_reason():
    cfg = {**MAX, "min_improvement": 0.0}
    verdict = decide(0.85, 0.80, RegistrySection(**cfg), _comparison(cfg, 0.85, 0.80, -0.02))
    assert verdict.reason.startswith("improvement not significant at alpha 0.05 (lower bound -0.02 <= 0)")


def test_a_champion_without_a_paired_comparison_is_refused():
    with pytest.raises(RegistryInputError, match="needs the PairedComparison"):
        decide(0.85, 0.80, RegistrySection(**MAX))


def test_rejected_reason_names_the_floor():
    verdict = decide(0.55, None, RegistrySection(metric="roc_auc", min_score=0.6))
    assert verdict.reason == "no champion; challenger roc_auc 0.55 misses min_score 0.6 (higher is better)"


def _equal_models(rng: np.random.Generator, rows: int) -> tuple[Predictions, Predictions]:
    """Two models of the same skill (independent errors) on the same tiny held-out set."""
    y = rng.random(rows) < 0.3
    y[:3], y[3:6] = True, False
    a = rng.normal(size=rows) + y
    b = rng.normal(size=rows) + y
    task = "binary_classification"
    return Predictions(task, y, a > 0.5, a), Predictions(task, y, b > 0.5, b)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["roc_auc", "accuracy"])
def test_a_tiny_held_out_set_does_not_promote_on_noise(metric):
    """400 simulated gates between equal models on 40 held-out rows: promoted at most alpha of the time.

    Without the test (promote on any point improvement) about half of them would be promoted.
    """
    cfg = RegistrySection(metric=metric, direction="maximize", alpha=0.05, min_improvement=0.0)
    rng = np.random.default_rng(2026)
    promoted = naive = 0
    for i in range(400):
        champion, challenger = _equal_models(rng, 40)
        comparison = paired_comparison(
            metric, champion, challenger, direction="maximize", alpha=cfg.alpha, resamples=1000, seed=i
        )
        score_a, score_b = point_metric(metric, champion), point_metric(metric, challenger)
        promoted += decide(score_b, score_a, cfg, comparison).decision == "promoted"
        naive += score_b > score_a
    assert promoted / 400 <= cfg.alpha
    assert naive / 400 > 0.35


def test_a_real_improvement_on_enough_rows_is_promoted():
    rng = np.random.default_rng(3)
    rows = 2000
    y = rng.random(rows) < 0.3
    weak, strong = rng.normal(size=rows) + 0.5 * y, rng.normal(size=rows) + 1.5 * y
    task = "binary_classification"
    a, b = Predictions(task, y, weak > 0.5, weak), Predictions(task, y, strong > 0.5, strong)
    cfg = RegistrySection(metric="roc_auc", min_improvement=0.02)
    comparison = paired_comparison("roc_auc", a, b, direction="maximize", resamples=500)
    verdict = decide(point_metric("roc_auc", b), point_metric("roc_auc", a), cfg, comparison)
    assert verdict.decision == "promoted", verdict.reason
    assert comparison.lower > 0.1 and comparison.rows == rows


def test_a_promotion_refused_under_the_lock_reports_the_refusal_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refusal's own words reach the verdict (no second registry read that could say otherwise)."""
    from types import SimpleNamespace

    from driftline.registry import gate
    from driftline.registry.errors import StalePromotionError

    def refused(*_: object, **__: object) -> None:
        raise StalePromotionError("churn v4 was promoted from newer data (2026-03-05)")

    monkeypatch.setattr(gate, "promote", refused)
    config = SimpleNamespace(
        registered_model_name="churn", registry=SimpleNamespace(metric="roc_auc", direction="maximize")
    )
    scores = gate.GateScores(positive=1, challenger_predictions=None, challenger_score=0.8)  # type: ignore[arg-type]
    verdict = gate.decide(0.8, None, RegistrySection(**MAX), None)
    acted = gate.act_on_verdict(
        None,  # type: ignore[arg-type]
        config,  # type: ignore[arg-type]
        3,
        None,
        scores,
        verdict,
        gate.GateRoute(decision="promoted", ab_test=False, deferred=False),
        {},
        actor="test",
        policy=None,
        lock_ttl=1,
        lock_wait=1,
        op_key=None,
        data_time=None,
        approval_required=False,
        data_start=None,
        user=None,
    )
    assert acted.promotion is None
    assert acted.refused == "churn v4 was promoted from newer data (2026-03-05)"
