from __future__ import annotations

import datetime as dt

import pytest
from driftline.config.models import WindowSection
from driftline.data.windows import EmptyWindowError, resolve_window
from driftline.exceptions import ConfigError

START = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 11, tzinfo=dt.UTC)


def test_current_is_the_run_interval():
    w = resolve_window(WindowSection(kind="rolling", days=14), START, END, purpose="current")
    assert (w.start, w.end, w.kind, w.days) == (START, END, "current", 1)
    assert w.day_list() == [dt.date(2026, 1, 10)]


def test_current_naive_interval_is_utc():
    w = resolve_window(
        WindowSection(), START.replace(tzinfo=None), END.replace(tzinfo=None), purpose="current"
    )
    assert w.start == START and w.end.tzinfo is not None


def test_rolling_ends_at_interval_end():
    w = resolve_window(WindowSection(kind="rolling", days=14), START, END, purpose="training")
    assert (w.start, w.end, w.kind, w.days) == (END - dt.timedelta(days=14), END, "rolling", 14)
    assert len(w.day_list()) == 14 and w.day_list()[-1] == dt.date(2026, 1, 10)


def test_override_days_replaces_the_size_for_one_run():
    w = resolve_window(
        WindowSection(kind="rolling", days=14), START, END, purpose="training", override_days=3
    )
    assert (w.start, w.days, w.kind) == (END - dt.timedelta(days=3), 3, "rolling")
    assert w.facts == {"override_days": 3, "configured_kind": "rolling"}


def test_override_turns_expanding_into_rolling():
    w = resolve_window(WindowSection(kind="expanding"), START, END, purpose="training", override_days=5)
    assert w.kind == "rolling" and w.days == 5 and w.facts["configured_kind"] == "expanding"


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_override_must_be_at_least_one(bad):
    with pytest.raises(ConfigError, match=r"(?s)run param window_days.*must be an integer >= 1"):
        resolve_window(WindowSection(), START, END, purpose="training", override_days=bad)


def test_override_is_ignored_for_current():
    w = resolve_window(WindowSection(), START, END, purpose="current", override_days=3)
    assert w.kind == "current" and w.start == START


def test_expanding_is_unbounded():
    w = resolve_window(WindowSection(kind="expanding"), START, END, purpose="training")
    assert (w.start, w.end, w.kind, w.days) == (None, END, "expanding", None)
    assert w.contains_day(dt.date(1999, 1, 1)) and not w.contains_day(dt.date(2026, 1, 11))
    with pytest.raises(ValueError):
        w.day_list()


def test_since_champion_starts_at_trained_until():
    trained = dt.datetime(2026, 1, 4, 12, tzinfo=dt.UTC)
    w = resolve_window(
        WindowSection(kind="since_champion", days=30),
        START,
        END,
        purpose="training",
        champion_trained_until=trained,
    )
    assert (w.start, w.kind, w.days) == (trained, "since_champion", 7)
    assert w.day_list()[0] == dt.date(2026, 1, 4)
    assert w.facts["champion_trained_until"] == trained.isoformat()


def test_since_champion_accepts_iso_strings():
    w = resolve_window(
        WindowSection(kind="since_champion"),
        START,
        END,
        purpose="training",
        champion_trained_until="2026-01-08T00:00:00Z",
    )
    assert w.start == dt.datetime(2026, 1, 8, tzinfo=dt.UTC)


def test_since_champion_without_champion_falls_back_to_rolling():
    w = resolve_window(WindowSection(kind="since_champion", days=9), START, END, purpose="training")
    assert (w.kind, w.days, w.start) == ("rolling", 9, END - dt.timedelta(days=9))
    assert "no champion yet" in w.facts["fallback"] and w.facts["configured_kind"] == "since_champion"


def test_since_champion_without_champion_or_days_is_all_history():
    w = resolve_window(WindowSection(kind="since_champion", days=None), START, END, purpose="training")
    assert w.kind == "expanding" and w.start is None and "all history" in w.facts["fallback"]


def test_since_champion_trained_up_to_the_end_is_empty():
    with pytest.raises(EmptyWindowError, match="champion was trained until 2026-01-11"):
        resolve_window(
            WindowSection(kind="since_champion"), START, END, purpose="training", champion_trained_until=END
        )


def test_bad_purpose_and_empty_interval():
    with pytest.raises(ConfigError, match="expected one of"):
        resolve_window(WindowSection(), START, END, purpose="scoring")
    with pytest.raises(EmptyWindowError, match="data interval is empty"):
        resolve_window(WindowSection(), END, START, purpose="current")


def test_describe_is_json_friendly():
    w = resolve_window(WindowSection(kind="rolling", days=2), START, END, purpose="training")
    assert w.describe() == {
        "window_start": "2026-01-09T00:00:00+00:00",
        "window_end": "2026-01-11T00:00:00+00:00",
        "window_kind": "rolling",
        "window_days": 2,
    }
