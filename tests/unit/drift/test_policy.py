"""The retrain policy's truth table: every combination of force, champion, drift and cooldown."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from driftline.drift.policy import RetrainDecision, decide_retrain, last_retrain_time, not_evaluated_streak

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
MAX_AGE = dt.timedelta(days=30)
COOLDOWN = dt.timedelta(hours=12)


@dataclass
class Data:
    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float = 0.3
    number_of_drifted_columns: int = 0
    number_of_columns: int = 6


@dataclass
class Concept:
    evaluated: bool
    drifted: bool | None
    reason: str = "live roc_auc 0.70 vs 0.80"


@dataclass
class Champ:
    version: int
    trained_until: dt.datetime | None
    promoted_at: dt.datetime | None


DATA = {
    "none": None,
    "no_drift": Data(False, 0.1, number_of_drifted_columns=1),
    "drift": Data(True, 0.5, number_of_drifted_columns=3),
}
CONCEPT = {
    "none": None,
    "not_evaluated": Concept(False, None, "only 3 labelled rows"),
    "ok": Concept(True, False),
    "drift": Concept(True, True),
}
CHAMPION = {
    "none": None,
    "fresh": Champ(3, NOW - dt.timedelta(days=5), NOW - dt.timedelta(days=4)),
    "old": Champ(3, NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=39)),
}
LAST = {"never": None, "inside": NOW - dt.timedelta(hours=2), "outside": NOW - dt.timedelta(hours=13)}

CASES = list(itertools.product([False, True], CHAMPION, DATA, CONCEPT, LAST))


def expected(force: bool, champion: str, data: str, concept: str, last: str) -> tuple[bool, set[str]]:
    """The policy in words: (retrain?, reason kinds)."""
    kinds = set()
    if force:
        kinds.add("forced")
    if champion == "none":
        kinds.add("no champion")
    if champion == "old":
        kinds.add("model age")
    if data == "drift":
        kinds.add("data drift")
    if concept == "drift":
        kinds.add("concept drift")
    blocked = last == "inside" and not force
    return bool(kinds) and not blocked, kinds


def kinds_of(reasons: list[str]) -> set[str]:
    return {r.split(":")[0] for r in reasons}


@pytest.mark.parametrize(("force", "champion", "data", "concept", "last"), CASES)
def test_truth_table(force: bool, champion: str, data: str, concept: str, last: str) -> None:
    decision = decide_retrain(
        data_drift=DATA[data],
        concept_drift=CONCEPT[concept],
        champion=CHAMPION[champion],
        now=NOW,
        last_retrain_at=LAST[last],
        force=force,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    retrain, kinds = expected(force, champion, data, concept, last)
    assert decision.retrain is retrain
    if retrain:
        assert kinds_of(decision.reasons) == kinds
        assert decision.suppressed == []
    else:
        assert decision.reasons == []
        # reasons held back by the cooldown are kept, never dropped
        assert kinds_of(decision.suppressed) == kinds
        if kinds:
            assert any(n.startswith("cooldown") for n in decision.notes)


def test_no_reason_no_retrain_and_notes_say_why() -> None:
    decision = decide_retrain(
        data_drift=DATA["no_drift"],
        concept_drift=CONCEPT["not_evaluated"],
        champion=CHAMPION["fresh"],
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    assert decision == RetrainDecision(
        False,
        [],
        [],
        ["no dataset drift: share 0.100 < 0.3", "concept drift not evaluated: only 3 labelled rows"],
    )


def test_reason_texts_are_specific() -> None:
    decision = decide_retrain(
        data_drift=DATA["drift"],
        concept_drift=CONCEPT["drift"],
        champion=CHAMPION["old"],
        now=NOW,
        last_retrain_at=LAST["outside"],
        force=True,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    assert decision.retrain
    assert decision.reasons == [
        "forced: the run param force_retrain is true",
        "data drift: 3/6 columns drifted (share 0.500 >= 0.3)",
        "concept drift: live roc_auc 0.70 vs 0.80",
        "model age: champion v3 is 40.0 days old (since trained_until) > max 30.0 days",
    ]


def test_force_overrides_cooldown() -> None:
    decision = decide_retrain(
        data_drift=None,
        concept_drift=None,
        champion=CHAMPION["fresh"],
        now=NOW,
        last_retrain_at=LAST["inside"],
        force=True,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    assert decision.retrain and decision.reasons == ["forced: the run param force_retrain is true"]


@pytest.mark.parametrize(
    ("trained_until", "promoted_at", "retrain", "note"),
    [
        (None, NOW - dt.timedelta(days=31), True, None),  # falls back to the promotion time
        (None, None, False, "champion age unknown: it has neither trained_until nor promoted_at"),
        (NOW - dt.timedelta(days=30), None, False, None),  # exactly the max age is not older
    ],
)
def test_model_age_sources(trained_until, promoted_at, retrain, note) -> None:
    decision = decide_retrain(
        data_drift=None,
        concept_drift=None,
        champion=Champ(1, trained_until, promoted_at),
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    assert decision.retrain is retrain
    if note:
        assert note in decision.notes


def test_max_model_age_none_disables_the_age_rule() -> None:
    decision = decide_retrain(
        data_drift=None,
        concept_drift=None,
        champion=CHAMPION["old"],
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=None,
        cooldown=COOLDOWN,
    )
    assert not decision.retrain


def test_zero_cooldown_never_suppresses() -> None:
    decision = decide_retrain(
        data_drift=DATA["drift"],
        concept_drift=None,
        champion=CHAMPION["fresh"],
        now=NOW,
        last_retrain_at=NOW,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=dt.timedelta(0),
    )
    assert decision.retrain


def test_last_retrain_time_is_the_latest_known() -> None:
    a, b = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    assert last_retrain_time(a, b) == b
    assert last_retrain_time(b, None) == b
    assert last_retrain_time(None, None) is None


@dataclass
class Target:
    kind: str
    evaluated: bool
    drifted: bool | None
    retrain: bool
    reason: str = "jensenshannon 0.18 (threshold 0.1)"


TARGET = {
    "none": lambda kind: None,
    "not_evaluated": lambda kind: Target(kind, False, None, True, "only 3 labelled rows"),
    "ok": lambda kind: Target(kind, True, False, True),
    "drift": lambda kind: Target(kind, True, True, True),
    "drift_no_retrain": lambda kind: Target(kind, True, True, False),
}
TARGET_CASES = list(itertools.product(["none", "fresh"], TARGET, TARGET, ["never", "inside"]))


@pytest.mark.parametrize(("champion", "label", "prediction", "last"), TARGET_CASES)
def test_label_and_prediction_drift_truth_table(
    champion: str, label: str, prediction: str, last: str
) -> None:
    """Label/prediction drift is a reason only when detected AND configured to retrain; the cooldown holds it."""
    decision = decide_retrain(
        data_drift=DATA["no_drift"],
        concept_drift=CONCEPT["ok"],
        champion=CHAMPION[champion],
        now=NOW,
        last_retrain_at=LAST[last],
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
        label_drift=TARGET[label]("label"),
        prediction_drift=TARGET[prediction]("prediction"),
    )
    kinds = {"no champion"} if champion == "none" else set()
    kinds |= {
        kind for kind, state in (("label drift", label), ("prediction drift", prediction)) if state == "drift"
    }
    blocked = last == "inside"
    assert decision.retrain is (bool(kinds) and not blocked)
    assert kinds_of(decision.suppressed if blocked else decision.reasons) == kinds
    for kind, state in (("label", label), ("prediction", prediction)):
        if state == "drift_no_retrain":
            assert any(n.startswith(f"{kind} drift detected, not a retrain reason") for n in decision.notes)
        if state == "not_evaluated":
            assert f"{kind} drift not evaluated: only 3 labelled rows" in decision.notes


def test_label_drift_reason_text() -> None:
    decision = decide_retrain(
        data_drift=DATA["no_drift"],
        concept_drift=None,
        champion=CHAMPION["fresh"],
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
        label_drift=Target(
            "label", True, True, True, "z 0.001 (threshold 0.05); shares {'0': 0.9, '1': 0.1} -> ..."
        ),
    )
    assert decision.reasons == ["label drift: z 0.001 (threshold 0.05); shares {'0': 0.9, '1': 0.1} -> ..."]


# --- "not evaluated" streaks (alert beyond drift.max_not_evaluated_runs) ---------------------


def _d(day: int) -> dt.datetime:
    return dt.datetime(2026, 1, day, tzinfo=dt.UTC)


def test_streak_counts_consecutive_not_evaluated_intervals_up_to_now():
    records = [(_d(1), True), (_d(2), False), (_d(3), False), (_d(4), None), (_d(5), False), (_d(6), True)]
    assert not_evaluated_streak(records, _d(5)) == 3  # day 4 does not apply (e.g. concept drift disabled)
    assert not_evaluated_streak(records, _d(6)) == 0
    assert not_evaluated_streak(records, _d(1)) == 0
    assert not_evaluated_streak([], _d(1)) == 0


def test_streak_counts_a_rerun_interval_once_and_the_last_record_wins():
    records = [(_d(1), False), (_d(2), False), (_d(2), False), (_d(3), True), (_d(3), False)]
    assert not_evaluated_streak(records, _d(3)) == 3
