"""Which slice of time a load reads: the run's own interval, or a retraining window.

`resolve_window` is pure: it turns the config's `data.window`, the run's data interval, an
optional UI override and the champion's `trained_until` into a half-open `[start, end)`.

- purpose "current": the run's data interval as it is (kind "current").
- purpose "training":
  - rolling: the last N days ending at the interval end (N = `window.days`, or the run
    param `window_days` for one run);
  - expanding: all history up to the interval end (`start` is None: unbounded);
  - since_champion: from the champion's `trained_until`; without a champion it falls back
    to a rolling window of `window.days` (or all history when `days` is null) and says so
    in `facts["fallback"]`.
  An override (`window_days`) always means "a rolling window of that many days for this
  run", whatever the configured kind; `facts["configured_kind"]` keeps the config's kind.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from driftline.config.models import WindowSection
from driftline.exceptions import ConfigError, PermanentError

Purpose = Literal["current", "training"]
WindowKind = Literal["current", "rolling", "expanding", "since_champion"]
PURPOSES: tuple[str, ...] = ("current", "training")
_NO_CHAMPION = "no champion yet: used a rolling window of data.window.days instead of since_champion"
_NO_CHAMPION_NO_DAYS = (
    "no champion yet and data.window.days is null: used all history instead of since_champion"
)


class EmptyWindowError(PermanentError):
    """The window has no time in it (e.g. the champion was trained up to the run's end)."""


@dataclass(frozen=True)
class Window:
    """A half-open time range `[start, end)`; `start` None means unbounded (all history)."""

    start: dt.datetime | None
    end: dt.datetime
    kind: WindowKind
    days: int | None
    facts: dict[str, Any] = field(default_factory=dict)

    def contains_day(self, day: dt.date) -> bool:
        """True when any instant of calendar day `day` (UTC) falls inside the window."""
        day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        day_end = day_start + dt.timedelta(days=1)
        return day_end > (self.start or day_start) and day_start < self.end

    def partition_starts(self, step: dt.timedelta) -> list[dt.datetime]:
        """The start of every partition of length `step` (a day, an hour, a minute, aligned to UTC
        midnight) that the window touches (needs a bounded start)."""
        if self.start is None:
            raise ValueError("an unbounded window has no partition list: discover partitions instead")
        start = self.start.astimezone(dt.UTC)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        first = midnight + step * ((start - midnight) // step)
        out = []
        while first < self.end:
            out.append(first)
            first += step
        return out

    def overlaps(self, partition_start: dt.datetime, step: dt.timedelta) -> bool:
        """True when any instant of the partition `[partition_start, partition_start + step)` is inside."""
        return partition_start + step > (self.start or partition_start) and partition_start < self.end

    def day_list(self) -> list[dt.date]:
        """Every UTC calendar day the window touches (needs a bounded start)."""
        if self.start is None:
            raise ValueError("an unbounded window has no day list: discover partitions instead")
        first = self.start.astimezone(dt.UTC).date()
        last = (self.end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def describe(self) -> dict[str, Any]:
        """The window as JSON-friendly facts (ISO timestamps)."""
        return {
            "window_start": self.start.isoformat() if self.start else None,
            "window_end": self.end.isoformat(),
            "window_kind": self.kind,
            "window_days": self.days,
            **self.facts,
        }


def _utc(value: dt.datetime | str, what: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(what, [f"expected an ISO 8601 timestamp, got {value!r}"]) from exc
    if not isinstance(value, dt.datetime):
        raise ConfigError(what, [f"expected a datetime, got {type(value).__name__}"])
    if value.tzinfo is None:  # naive timestamps are UTC throughout Driftline
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def last_whole_interval(cron: str | None, anchor: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The interval a run without a data interval scores: the last whole one ending at or before `anchor`.

    With a schedule (`cron`, a 5-field expression or preset) that is the last whole schedule
    interval, the one Airflow's `CronDataIntervalTimetable.infer_manual_data_interval` gives a
    manual run (e.g. the last whole hour for `@hourly`, the last whole week for `@weekly`).
    Without a schedule (`cron` None) it is the last whole UTC day.
    """
    anchor = _utc(anchor, "logical_date")
    if cron is None:
        end = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        return end - dt.timedelta(days=1), end
    from croniter import croniter

    from driftline.data.templates import CRON_PRESETS

    expression = CRON_PRESETS.get(cron, cron)
    naive = anchor.replace(tzinfo=None)
    if croniter.match(expression, naive) and naive.second == 0 and naive.microsecond == 0:
        end = naive
    else:
        end = croniter(expression, naive).get_prev(dt.datetime)
    start = croniter(expression, end).get_prev(dt.datetime)
    return start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)


def _span_days(start: dt.datetime, end: dt.datetime) -> int:
    return max(1, math.ceil((end - start).total_seconds() / 86_400))


def resolve_window(
    window_cfg: WindowSection,
    interval_start: dt.datetime,
    interval_end: dt.datetime,
    *,
    purpose: Purpose,
    champion_trained_until: dt.datetime | str | None = None,
    override_days: int | None = None,
) -> Window:
    """Resolve the `[start, end)` a load reads for `purpose` ("current" or "training")."""
    if purpose not in PURPOSES:
        raise ConfigError("window", [f"expected one of {list(PURPOSES)}, got {purpose!r}"])
    start = _utc(interval_start, "data_interval_start")
    end = _utc(interval_end, "data_interval_end")
    if end <= start:
        raise EmptyWindowError(
            f"the run's data interval is empty: start {start.isoformat()} >= end {end.isoformat()}"
        )
    if purpose == "current":
        return Window(start, end, "current", _span_days(start, end))

    if override_days is not None:
        if isinstance(override_days, bool) or not isinstance(override_days, int) or override_days < 1:
            raise ConfigError("run param window_days", [f"must be an integer >= 1, got {override_days!r}"])
        facts = {"override_days": override_days, "configured_kind": window_cfg.kind}
        return Window(end - dt.timedelta(days=override_days), end, "rolling", override_days, facts)

    if window_cfg.kind == "rolling":
        days = int(window_cfg.days or 0)
        return Window(end - dt.timedelta(days=days), end, "rolling", days)
    if window_cfg.kind == "expanding":
        return Window(None, end, "expanding", None)

    # since_champion
    if champion_trained_until is None:
        if window_cfg.days is None:
            facts = {"configured_kind": "since_champion", "fallback": _NO_CHAMPION_NO_DAYS}
            return Window(None, end, "expanding", None, facts)
        days = int(window_cfg.days)
        return Window(
            end - dt.timedelta(days=days),
            end,
            "rolling",
            days,
            {"configured_kind": "since_champion", "fallback": _NO_CHAMPION},
        )
    trained_until = _utc(champion_trained_until, "champion trained_until")
    if trained_until >= end:
        raise EmptyWindowError(
            f"since_champion window is empty: the champion was trained until {trained_until.isoformat()}, "
            f"which is not before the run's end {end.isoformat()}"
        )
    return Window(
        trained_until,
        end,
        "since_champion",
        _span_days(trained_until, end),
        {"champion_trained_until": trained_until.isoformat()},
    )
