"""The retrain policy: one pure function that says whether to retrain, and why.

Retrain when any of these holds (every one that holds is recorded as a reason):
- `force` (the run param force_retrain);
- there is no champion;
- data drift: the share of drifted columns reached `drift.drift_share` (DataDriftResult.dataset_drift);
- concept drift: the live metric dropped beyond `drift.concept.tolerance`;
- the champion is older than `max_model_age`. Age is counted from the newest data it learned
  from (`trained_until`), or from its promotion when that is unknown;
- label drift / prediction drift, when detected and configured as a retrain reason
  (`drift.label.retrain`, `drift.prediction.retrain`); detected but not a reason, it is a note;
- an estimated performance drop (`drift.performance_estimation`: the label-free estimate of the
  champion's metric dropped beyond `max_drop`, significantly) when the labels are late, i.e. concept
  drift was not evaluated. With labels, the realised metric (concept drift) decides and the estimate
  is a note; with `drift.performance_estimation.retrain: false` it is always a note.
Persistence (`drift.persistence: {k, n}`): data, concept, label, prediction drift and an estimated drop
retrain only
when drift was seen in k of the last n runs (by data time, this one included; `drift_persistence`);
the decision records which runs counted. Force, no champion and age are not held.
Cooldown: a retrain decided less than `cooldown` after the last retrain is suppressed (its
reasons move to `suppressed`) unless forced. This stops a persistent drift from retraining on
every run while the last retrain is still recent. All times are data times (a run's data
interval end), never wall-clock times, so a backfill decides as the live schedule would:
`last_retrain_at` is the latest of the champion's `trained_until` and the data time of the last
"retrain" decision recorded for an earlier interval (the monitoring experiment), so a retrain
whose challenger was rejected also starts a cooldown. The cooldown applies to every
non-forced reason, "no champion" included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from driftline.exceptions import DriftlineError


class ReferenceUnreadableError(DriftlineError):
    """The champion's reference data cannot be read: retried, then the task fails.

    Never reported as "data drift not evaluated": that outcome is kept for real reasons (no
    champion yet, a champion registered without reference data).
    """


class _DataDrift(Protocol):
    @property
    def dataset_drift(self) -> bool: ...
    @property
    def drift_share(self) -> float: ...
    @property
    def drift_share_threshold(self) -> float: ...
    @property
    def number_of_drifted_columns(self) -> int: ...
    @property
    def number_of_columns(self) -> int: ...


class _ConceptDrift(Protocol):
    @property
    def evaluated(self) -> bool: ...
    @property
    def drifted(self) -> bool | None: ...
    @property
    def reason(self) -> str: ...


class _TargetDrift(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def evaluated(self) -> bool: ...
    @property
    def drifted(self) -> bool | None: ...
    @property
    def retrain(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class _Estimate(Protocol):
    @property
    def evaluated(self) -> bool: ...
    @property
    def dropped(self) -> bool | None: ...
    @property
    def retrain(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class _Champion(Protocol):
    @property
    def version(self) -> int: ...
    @property
    def trained_until(self) -> dt.datetime | None: ...
    @property
    def promoted_at(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class RetrainDecision:
    """`retrain` and every reason for it; reasons the cooldown held back are in `suppressed`."""

    retrain: bool
    reasons: list[str]
    suppressed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: data, label or prediction drift that would be a retrain reason was seen in this run
    drift_signal: bool = False
    #: the persistence rule's check (PersistenceCheck.to_dict()) when it applies (k > 1)
    persistence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PersistenceCheck:
    """Drift in `k` of the last `n` runs: which runs counted (by data time) and whether it holds."""

    k: int
    n: int
    drifted_runs: int
    met: bool
    counted: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_persistence(
    history: list[tuple[dt.datetime, bool | None, str]],
    now: dt.datetime,
    current: bool,
    k: int,
    n: int,
    own_run_id: str = "",
) -> PersistenceCheck:
    """Whether drift was seen in at least `k` of the last `n` runs, this one (data time `now`) included.

    `history` holds (data time, drift signal, Airflow run id) per recorded decision, oldest record
    first. The other runs are the `n - 1` latest intervals strictly before `now` (by data time, not by
    when they ran): later intervals decided before a backfill of this one do not count, and a re-run
    of an interval (a retry, a cleared run) counts once, its latest record winning. Records with no
    signal (None: decided before the signal was recorded) and this run's own records are skipped.
    """
    by_time: dict[dt.datetime, tuple[bool, str]] = {}
    for when, signal, run_id in history:
        if signal is None or when >= now or (own_run_id and run_id == own_run_id):
            continue
        by_time.pop(when, None)
        by_time[when] = (signal, run_id)
    earlier = sorted(by_time, reverse=True)[: max(n - 1, 0)]
    counted = [{"decided_for": now.isoformat(), "run_id": own_run_id, "drift": current}]
    counted += [
        {"decided_for": when.isoformat(), "run_id": by_time[when][1], "drift": by_time[when][0]}
        for when in earlier
    ]
    drifted = sum(1 for row in counted if row["drift"])
    return PersistenceCheck(k=k, n=n, drifted_runs=drifted, met=drifted >= k, counted=counted)


def champion_age(champion: _Champion, now: dt.datetime) -> tuple[dt.timedelta | None, str]:
    """The champion's age and what it is measured from."""
    if champion.trained_until is not None:
        return now - champion.trained_until, "trained_until"
    if champion.promoted_at is not None:
        return now - champion.promoted_at, "promoted_at"
    return None, "unknown"


def decide_retrain(
    *,
    data_drift: _DataDrift | None,
    concept_drift: _ConceptDrift | None,
    champion: _Champion | None,
    now: dt.datetime,
    last_retrain_at: dt.datetime | None,
    force: bool,
    max_model_age: dt.timedelta | None,
    cooldown: dt.timedelta,
    label_drift: _TargetDrift | None = None,
    prediction_drift: _TargetDrift | None = None,
    persistence: tuple[int, int] = (1, 1),
    drift_history: list[tuple[dt.datetime, bool | None, str]] | None = None,
    own_run_id: str = "",
    performance_estimate: _Estimate | None = None,
) -> RetrainDecision:
    """Decide whether to retrain; pure (no I/O), every reason recorded.

    `persistence` (k, n): data, concept, label or prediction drift is a retrain reason only when
    drift was seen in at least k of the last n runs (`drift_persistence` over `drift_history`, this
    run included); otherwise it is a note. Force, no champion and model age are not held back by
    it. (Concept drift counts too: a day's metric on a day's labels moves with that day's weather
    or mix, more than its bootstrap interval of the rows says.)
    """
    reasons: list[str] = []
    notes: list[str] = []
    drift_reasons: list[str] = []
    if force:
        reasons.append("forced: the run param force_retrain is true")
    if champion is None:
        reasons.append("no champion: there is no model in production yet")
    if data_drift is None:
        if champion is not None:
            notes.append("data drift not evaluated")
    elif data_drift.dataset_drift:
        drift_reasons.append(
            f"data drift: {data_drift.number_of_drifted_columns}/{data_drift.number_of_columns} columns drifted "
            f"(share {data_drift.drift_share:.3f} >= {data_drift.drift_share_threshold})"
        )
        reasons.append(drift_reasons[-1])
    else:
        notes.append(
            f"no dataset drift: share {data_drift.drift_share:.3f} < {data_drift.drift_share_threshold}"
        )
    if concept_drift is not None:
        if concept_drift.evaluated and concept_drift.drifted:
            drift_reasons.append(f"concept drift: {concept_drift.reason}")
            reasons.append(drift_reasons[-1])
        elif not concept_drift.evaluated:
            notes.append(f"concept drift not evaluated: {concept_drift.reason}")
    for target in (label_drift, prediction_drift):
        if target is None:
            continue
        if not target.evaluated:
            notes.append(f"{target.kind} drift not evaluated: {target.reason}")
        elif target.drifted and target.retrain:
            drift_reasons.append(f"{target.kind} drift: {target.reason}")
            reasons.append(drift_reasons[-1])
        elif target.drifted:
            notes.append(
                f"{target.kind} drift detected, not a retrain reason (drift.{target.kind}.retrain is false): {target.reason}"
            )
    if performance_estimate is not None:
        estimate = performance_estimate
        if not estimate.evaluated:
            notes.append(f"performance estimate not evaluated: {estimate.reason}")
        elif not estimate.dropped:
            notes.append(f"performance estimate: {estimate.reason}")
        elif concept_drift is not None and concept_drift.evaluated:
            notes.append(
                f"performance estimate (labels are in, concept drift decides instead): {estimate.reason}"
            )
        elif not estimate.retrain:
            notes.append(
                "estimated performance drop, not a retrain reason "
                f"(drift.performance_estimation.retrain is false): {estimate.reason}"
            )
        else:
            drift_reasons.append(f"estimated performance drop (labels not in yet): {estimate.reason}")
            reasons.append(drift_reasons[-1])
    k, n = persistence
    check = None
    if k > 1 or n > 1:
        check = drift_persistence(drift_history or [], now, bool(drift_reasons), k, n, own_run_id)
        runs = ", ".join(
            f"{row['decided_for']}={'drift' if row['drift'] else 'no drift'}" for row in check.counted
        )
        summary = f"drift in {check.drifted_runs} of the last {len(check.counted)} run(s) [{runs}]"
        if drift_reasons and not check.met:
            notes.extend(
                f"held by drift.persistence ({summary}; needs {k} of {n}): {reason}"
                for reason in drift_reasons
            )
            reasons = [r for r in reasons if r not in drift_reasons]
            drift_reasons = []
        elif drift_reasons:
            notes.append(f"drift.persistence met: {summary} (needs {k} of {n})")
    signal = bool(drift_reasons) or bool(check is not None and check.counted[0]["drift"])
    if champion is not None and max_model_age is not None:
        age, since = champion_age(champion, now)
        if age is None:
            notes.append("champion age unknown: it has neither trained_until nor promoted_at")
        elif age > max_model_age:
            reasons.append(
                f"model age: champion v{champion.version} is {age.total_seconds() / 86400:.1f} days old "
                f"(since {since}) > max {max_model_age.total_seconds() / 86400:.1f} days"
            )
    held = check.to_dict() if check is not None else None
    if not reasons:
        return RetrainDecision(False, [], [], notes, signal, held)
    if not force and last_retrain_at is not None and now - last_retrain_at < cooldown:
        left = cooldown - (now - last_retrain_at)
        notes.append(
            f"cooldown: last retrain at {last_retrain_at.isoformat()}, "
            f"{left.total_seconds() / 3600:.1f} h of {cooldown.total_seconds() / 3600:.1f} h left"
        )
        return RetrainDecision(False, [], reasons, notes, signal, held)
    return RetrainDecision(True, reasons, [], notes, signal, held)


def last_retrain_time(
    champion_trained_until: dt.datetime | None, last_decision_at: dt.datetime | None
) -> dt.datetime | None:
    """The latest of the champion's training-data end and the last recorded retrain decision."""
    times = [t for t in (champion_trained_until, last_decision_at) if t is not None]
    return max(times) if times else None


def not_evaluated_streak(records: list[tuple[dt.datetime, bool | None]], now: dt.datetime) -> int:
    """How many consecutive intervals, up to and including `now`, a check was "not evaluated".

    `records` holds (data time, evaluated) per recorded decision, in any order; None means the
    check does not apply to that run (e.g. concept drift disabled) and is skipped. Several records
    for one data time (a retry, a re-run of the interval) count once, the last one given winning.
    Intervals after `now` are ignored, so a backfill counts the streak the schedule had.
    """
    by_time: dict[dt.datetime, bool] = {}
    for when, evaluated in records:
        if evaluated is not None and when <= now:
            by_time[when] = evaluated
    streak = 0
    for when in sorted(by_time, reverse=True):
        if by_time[when]:
            break
        streak += 1
    return streak


def last_retrain_decision_time(
    decisions: list[tuple[dt.datetime, bool, str]], now: dt.datetime, own_run_id: str = ""
) -> dt.datetime | None:
    """The data time of the latest retrain decided for an interval strictly before `now`.

    `decisions` holds (data time, retrain?, Airflow run id) per recorded decision. Strictly
    earlier: a re-run of this interval (a retry, a backfill, a cleared run) is not held back by
    the retrain this interval's first run decided, and later intervals (decided before a
    backfill of this one) do not count, so the cooldown is the one the schedule had.
    """
    times = [when for when, retrain, run_id in decisions if retrain and when < now and run_id != own_run_id]
    return max(times, default=None)
