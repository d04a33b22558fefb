"""Backfills decide as the schedule would: replaying data dates out of order (after a rollback too)
gives the in-order decisions, from the same pure functions the operators call.

The world below is what the pipeline reads and writes: the registry's audit trail (champion
changes, with the data time a pipeline promotion records), the versions' trained_until, and the
recorded retrain decisions (data time, decision, Airflow run id, wall-clock time). Wall-clock time
runs far ahead of data time, as in the demo or any catch-up.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from driftline.drift.policy import decide_retrain, last_retrain_decision_time, last_retrain_time
from driftline.registry.audit import AuditEntry
from driftline.registry.champion import champion_version_as_of, data_clock_from

UTC = dt.UTC
DATES = [dt.datetime(2026, 1, d, tzinfo=UTC) for d in range(2, 20)]  # data-interval ends, @daily
DRIFTED = {DATES[i] for i in (3, 4, 5, 9, 10, 14, 15)}  # dataset drift on these intervals
REJECTED = {DATES[9]}  # the gate keeps the champion for this retrain
COOLDOWN = dt.timedelta(hours=48)
MAX_AGE = dt.timedelta(days=6)


@dataclass
class World:
    entries: list[AuditEntry] = field(default_factory=list)
    trained_until: dict[int, dt.datetime] = field(default_factory=dict)
    decisions: list[tuple[dt.datetime, bool, str, dt.datetime]] = field(default_factory=list)
    wall: dt.datetime = dt.datetime(2026, 11, 1, tzinfo=UTC)

    def tick(self) -> dt.datetime:
        self.wall += dt.timedelta(minutes=1)
        return self.wall

    def live_champion(self) -> int | None:
        return self.entries[-1].to_version if self.entries else None

    def change_champion(self, version: int | None, action: str, data_time: dt.datetime | None) -> None:
        self.entries.append(
            AuditEntry(
                seq=len(self.entries) + 1,
                at=self.tick(),
                alias="champion",
                from_version=self.live_champion(),
                to_version=version,
                actor="test",
                reason=action,
                action=action,
                details={"data_time": data_time.isoformat()} if data_time else {},
            )
        )


def decide(world: World, when: dt.datetime, run_id: str, promote: bool = True) -> tuple:
    """One pipeline run for the interval ending `when`: what check_drift and decide_retrain do."""
    clock = data_clock_from([(made, decided_for) for decided_for, _, _, made in world.decisions])
    as_of = champion_version_as_of(world.entries, when, clock)
    champion = None
    if as_of.version is not None:
        champion = SimpleNamespace(
            version=as_of.version,
            trained_until=world.trained_until[as_of.version],
            promoted_at=as_of.effective_from,
        )
    drift = SimpleNamespace(
        dataset_drift=when in DRIFTED,
        drift_share=0.6 if when in DRIFTED else 0.1,
        drift_share_threshold=0.5,
        number_of_drifted_columns=3 if when in DRIFTED else 0,
        number_of_columns=5,
    )
    last_decision = last_retrain_decision_time(
        [(d, r, rid) for d, r, rid, _ in world.decisions], when, run_id
    )
    decision = decide_retrain(
        data_drift=drift if champion else None,
        concept_drift=None,
        champion=champion,
        now=when,
        last_retrain_at=last_retrain_time(getattr(champion, "trained_until", None), last_decision),
        force=False,
        max_model_age=MAX_AGE,
        cooldown=COOLDOWN,
    )
    world.decisions.append((when, decision.retrain, run_id, world.tick()))
    if decision.retrain and promote and when not in REJECTED:
        version = len(world.trained_until) + 1
        world.trained_until[version] = when - dt.timedelta(seconds=1)
        world.change_champion(version, "promote", when)
    return (as_of.version, decision.retrain, tuple(decision.reasons), tuple(decision.suppressed))


def scheduled(world: World, dates: list[dt.datetime]) -> dict[dt.datetime, tuple]:
    return {when: decide(world, when, f"scheduled__{when.isoformat()}") for when in dates}


def rollback(world: World) -> None:
    """A user's rollback: no data time of its own, so it applies from the data clock."""
    previous = [e.from_version for e in world.entries if e.action == "promote"][-1]
    world.change_champion(previous, "rollback", None)


def test_the_in_order_story_has_every_kind_of_decision():
    decisions = scheduled(World(), DATES)
    kinds = {(retrain, bool(suppressed)) for _, retrain, _, suppressed in decisions.values()}
    assert kinds == {(True, False), (False, True), (False, False)}  # retrain, cooldown, quiet
    assert any("model age" in r for _, _, reasons, _ in decisions.values() for r in reasons)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_backfill_after_a_rollback_decides_as_in_order(seed):
    world = World()
    in_order = scheduled(world, DATES)
    rollback(world)
    backfill = DATES.copy()
    random.Random(seed).shuffle(backfill)
    replayed = {
        when: decide(world, when, f"backfill__{when.isoformat()}", promote=False) for when in backfill
    }
    assert replayed == in_order
    # and again, with the backfill's own decisions now recorded too
    again = {
        when: decide(world, when, f"again__{when.isoformat()}", promote=False) for when in reversed(DATES)
    }
    assert again == in_order


def test_the_rollback_applies_to_the_next_intervals_only():
    world = World()
    in_order = scheduled(world, DATES)
    live_before = world.live_champion()
    rollback(world)
    rolled_back_to = world.live_champion()
    assert rolled_back_to != live_before
    # the newest interval re-run still sees the champion it saw; the next interval sees the rollback
    assert decide(world, DATES[-1], "rerun", promote=False)[0] == in_order[DATES[-1]][0] == live_before
    assert decide(world, DATES[-1] + dt.timedelta(days=1), "next")[0] == rolled_back_to


def test_an_early_date_after_a_later_champion_is_not_held_by_its_cooldown():
    """The reported bug: a run five months before the champion's data was 'in cooldown'."""
    world = World()
    late = [d + dt.timedelta(days=150) for d in DATES[:6]]
    scheduled(world, late)
    version, retrain, reasons, suppressed = decide(world, DATES[0], "early", promote=False)
    assert version is None and retrain and reasons == ("no champion: there is no model in production yet",)
    assert suppressed == ()


def test_a_gap_filled_later_decides_as_the_schedule_would_and_later_runs_keep_their_decisions():
    """Where replays must differ: runs that decided while an earlier interval was missing are not
    re-decided (decide_retrain's operator logs this as a backfill warning)."""
    full = scheduled(World(), DATES)
    gap = DATES[3]  # a retrain in the full story
    world = World()
    without = scheduled(world, [d for d in DATES if d != gap])
    filled = decide(world, gap, "backfill__gap", promote=False)
    assert filled == full[gap]  # the gap's own decision is the schedule's
    differing = [d for d in DATES if d > gap and without[d] != full[d]]
    assert differing  # later intervals decided without the gap's retrain (documented, logged)
