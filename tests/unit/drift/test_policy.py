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


# --- persistence: drift in k of the last n runs --------------------------------------------------

DAY = dt.timedelta(days=1)


def _persisted(history, now=NOW, data="drift", k=2, n=3, run_id="run-now"):
    return decide_retrain(
        data_drift=DATA[data],
        concept_drift=None,
        champion=CHAMPION["fresh"],
        now=now,
        last_retrain_at=None,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
        persistence=(k, n),
        drift_history=history,
        own_run_id=run_id,
    )


def test_one_drifted_run_is_held_and_two_of_three_retrain() -> None:
    held = _persisted([(NOW - 2 * DAY, False, "a"), (NOW - DAY, False, "b")])
    assert not held.retrain and held.drift_signal is True
    assert any(note.startswith("held by drift.persistence") for note in held.notes)
    assert held.persistence is not None and held.persistence["drifted_runs"] == 1
    met = _persisted([(NOW - 2 * DAY, True, "a"), (NOW - DAY, False, "b")])
    assert met.retrain and met.reasons[0].startswith("data drift")
    assert [row["decided_for"] for row in met.persistence["counted"]] == [
        NOW.isoformat(),
        (NOW - DAY).isoformat(),
        (NOW - 2 * DAY).isoformat(),
    ]
    # a run with no drift of its own never retrains on its neighbours' drift
    quiet = _persisted([(NOW - 2 * DAY, True, "a"), (NOW - DAY, True, "b")], data="no_drift")
    assert not quiet.retrain and quiet.drift_signal is False


def test_persistence_reads_data_time_not_record_order_in_a_backfill() -> None:
    """Out of order: later intervals recorded first, a re-run of one interval, an old record without
    a signal, and this run's own earlier try. Only the two intervals just before now count."""
    history = [
        (NOW + 3 * DAY, True, "later-1"),  # decided before this backfill: ignored
        (NOW - DAY, True, "first-try"),
        (NOW - 5 * DAY, True, "old"),  # beyond the last n runs
        (NOW - 2 * DAY, None, "before-the-tag"),  # no signal recorded: skipped
        (NOW - 2 * DAY, False, "rerun"),
        (NOW - DAY, False, "cleared-and-rerun"),  # the latest record of an interval wins
        (NOW, True, "run-now"),  # this run's own earlier try
    ]
    decision = _persisted(history)
    counted = decision.persistence["counted"]
    assert [(row["run_id"], row["drift"]) for row in counted] == [
        ("run-now", True),
        ("cleared-and-rerun", False),
        ("rerun", False),
    ]
    assert not decision.retrain
    # shuffled record order of distinct intervals gives the same decision
    import random

    clean = [(NOW - i * DAY, i % 2 == 0, f"r{i}") for i in range(1, 6)]
    expected_decision = _persisted(clean, k=2, n=4)
    for seed in range(5):
        shuffled = clean[:]
        random.Random(seed).shuffle(shuffled)
        assert _persisted(shuffled, k=2, n=4) == expected_decision


def test_concept_drift_is_held_by_persistence_but_force_and_age_are_not() -> None:
    concept = decide_retrain(
        data_drift=None,
        concept_drift=CONCEPT["drift"],
        champion=CHAMPION["old"],
        now=NOW,
        last_retrain_at=None,
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
        persistence=(2, 3),
        drift_history=[],
    )
    assert concept.retrain and [r.split(":")[0] for r in concept.reasons] == ["model age"]
    assert any("held by drift.persistence" in note and "concept drift" in note for note in concept.notes)


def test_persistence_config_refuses_k_above_n() -> None:
    from driftline.config.models import Persistence
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"k \(3\) cannot exceed n \(2\)"):
        Persistence(k=3, n=2)
