"""The retrain policy on a label-free performance estimate: it retrains only when the labels are late."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from driftline.drift.estimation import PerformanceEstimate
from driftline.drift.policy import decide_retrain

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


@dataclass
class Concept:
    evaluated: bool
    drifted: bool | None
    reason: str = "live roc_auc"


@dataclass
class Champ:
    version: int = 3
    trained_until: dt.datetime | None = NOW - dt.timedelta(days=5)
    promoted_at: dt.datetime | None = None


def estimate(state: str, retrain: bool) -> PerformanceEstimate | None:
    if state == "none":
        return None
    if state == "not_evaluated":
        return PerformanceEstimate(
            False, "roc_auc", retrain=retrain, reason="only 40 labelled reference rows"
        )
    dropped = state == "drop"
    return PerformanceEstimate(
        True, "roc_auc", "cbpe", estimated_value=0.70, se=0.01, lower=0.68, upper=0.72,
        reference_value=0.80, drop=0.10, dropped=dropped, retrain=retrain,
        reason="estimated roc_auc 0.70 vs 0.80: ESTIMATED DROP" if dropped else "estimated drop 0.01 within",
    )  # fmt: skip


CONCEPT = {"none": None, "late": Concept(False, None, "only 3 labelled rows"), "ok": Concept(True, False)}


@pytest.mark.parametrize(
    ("state", "concept", "retrain_flag"),
    list(itertools.product(["none", "not_evaluated", "ok", "drop"], CONCEPT, [True, False])),
)
def test_truth_table(state: str, concept: str, retrain_flag: bool) -> None:
    decision = decide_retrain(
        data_drift=None,
        concept_drift=CONCEPT[concept],
        champion=Champ(),
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=None,
        cooldown=dt.timedelta(0),
        performance_estimate=estimate(state, retrain_flag),
    )
    labels_late = concept != "ok"  # no concept check or one not evaluated: no realised metric yet
    expected = state == "drop" and retrain_flag and labels_late
    assert decision.retrain is expected
    assert decision.drift_signal is expected
    if expected:
        assert decision.reasons == [
            "estimated performance drop (labels not in yet): estimated roc_auc 0.70 vs 0.80: ESTIMATED DROP"
        ]
    elif state == "drop":
        assert any("ESTIMATED DROP" in note for note in decision.notes)
        which = (
            "concept drift decides" if not labels_late else "drift.performance_estimation.retrain is false"
        )
        assert any(which in note for note in decision.notes)
    elif state == "not_evaluated":
        assert "performance estimate not evaluated: only 40 labelled reference rows" in decision.notes


def test_an_estimated_drop_is_held_by_persistence_like_any_drift() -> None:
    history = [(NOW - dt.timedelta(days=1), False, "r1"), (NOW - dt.timedelta(days=2), False, "r2")]
    kwargs = dict(
        data_drift=None, concept_drift=Concept(False, None), champion=Champ(), now=NOW, last_retrain_at=None,
        force=False, max_model_age=None, cooldown=dt.timedelta(0), persistence=(2, 3),
        performance_estimate=estimate("drop", True), own_run_id="now",
    )  # fmt: skip
    held = decide_retrain(**kwargs, drift_history=history)  # type: ignore[arg-type]
    assert not held.retrain and held.drift_signal
    assert any(note.startswith("held by drift.persistence") for note in held.notes)
    history[0] = (NOW - dt.timedelta(days=1), True, "r1")
    assert decide_retrain(**kwargs, drift_history=history).retrain  # type: ignore[arg-type]
