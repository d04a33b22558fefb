"""The gate rule as a truth table (pure: no MLflow)."""

from __future__ import annotations

import math

import pytest
from driftline.config.models import RegistrySection
from driftline.registry.gate import decide

MAX = {"metric": "roc_auc", "direction": "maximize"}
MIN = {"metric": "rmse", "direction": "minimize"}


@pytest.mark.parametrize(
    ("cfg", "challenger", "champion", "expected"),
    [
        # maximize, with a champion
        ({**MAX, "min_improvement": 0.0}, 0.81, 0.80, "promoted"),
        ({**MAX, "min_improvement": 0.0}, 0.80, 0.80, "kept_champion"),  # equal is not better
        ({**MAX, "min_improvement": 0.0}, 0.79, 0.80, "kept_champion"),
        ({**MAX, "min_improvement": 0.02}, 0.82, 0.80, "promoted"),  # exactly the required gain
        ({**MAX, "min_improvement": 0.02}, 0.815, 0.80, "kept_champion"),
        ({**MAX, "min_improvement": 0.0, "min_score": 0.99}, 0.81, 0.80, "promoted"),  # floor: first only
        # minimize, with a champion
        ({**MIN, "min_improvement": 0.5}, 9.4, 10.0, "promoted"),
        ({**MIN, "min_improvement": 0.5}, 9.6, 10.0, "kept_champion"),
        ({**MIN, "min_improvement": 0.0}, 10.5, 10.0, "kept_champion"),
        # no champion
        ({**MAX}, 0.55, None, "promoted"),  # no floor
        ({**MAX, "min_score": 0.6}, 0.6, None, "promoted"),
        ({**MAX, "min_score": 0.6}, 0.59, None, "rejected"),
        ({**MIN, "min_score": 5.0}, 4.0, None, "promoted"),
        ({**MIN, "min_score": 5.0}, 6.0, None, "rejected"),
        # unscorable
        ({**MAX, "min_score": 0.6}, 0.7, math.nan, "promoted"),  # champion NaN: judged like no champion
        ({**MAX, "min_score": 0.6}, 0.5, math.nan, "rejected"),
        ({**MAX}, math.nan, 0.8, "rejected"),
        ({**MAX}, math.nan, None, "rejected"),
    ],
)
def test_decide_truth_table(cfg, challenger, champion, expected):
    verdict = decide(challenger, champion, RegistrySection(**cfg))
    assert verdict.decision == expected, verdict.reason


def test_kept_champion_reason_names_both_numbers_and_the_requirement():
    verdict = decide(0.8105, 0.8101, RegistrySection(metric="roc_auc", min_improvement=0.002))
    assert verdict.decision == "kept_champion"
    assert verdict.reason == (
        "improvement below min_improvement; challenger roc_auc 0.8105 vs champion 0.8101: "
        "improvement +0.0004 (higher is better), required >= 0.002"
    )
    assert verdict.improvement == pytest.approx(0.0004)


def test_rejected_reason_names_the_floor():
    verdict = decide(0.55, None, RegistrySection(metric="roc_auc", min_score=0.6))
    assert verdict.reason == "no champion; challenger roc_auc 0.55 misses min_score 0.6 (higher is better)"
