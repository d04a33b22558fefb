"""Audit entries, champion_at replay and the history table (pure: no MLflow)."""

from __future__ import annotations

import datetime as dt

from driftline.registry.audit import (
    AuditEntry,
    audit_tag,
    champion_from_entries,
    entries_from_tags,
    format_history,
    next_seq,
)

T = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def entry(seq, alias, frm, to, minutes, action="promote", reason="gate"):
    return AuditEntry(
        seq, T + dt.timedelta(minutes=minutes), alias, frm, to, "airflow:d/r", reason, action, "op"
    )


def test_entries_round_trip_through_tags_in_seq_order():
    entries = [
        entry(2, "champion", 1, 2, 10),
        entry(1, "champion", None, 1, 0),
        entry(10, "challenger", 2, 3, 20),
    ]
    tags = {audit_tag(e.seq): e.to_json() for e in entries} | {"other": "x", "driftline.audit.bad": "{}"}
    assert audit_tag(7) == "driftline.audit.00000007"
    assert [e.seq for e in entries_from_tags(tags)] == [1, 2, 10]
    assert entries_from_tags(tags)[1] == entries[0]
    assert next_seq(tags) == 11 and next_seq({}) == 1


def test_champion_from_entries_replays_champion_moves_only():
    entries = [
        entry(1, "challenger", None, 1, 0, action="register"),
        entry(2, "champion", None, 1, 5),
        entry(3, "challenger", 1, 2, 60, action="register"),
        entry(4, "previous-champion", None, 1, 90),
        entry(5, "champion", 1, 2, 90),
        entry(6, "champion", 2, 1, 120, action="rollback"),
    ]
    assert champion_from_entries(entries, T) is None
    assert champion_from_entries(entries, T + dt.timedelta(minutes=5)) == 1
    assert champion_from_entries(entries, T + dt.timedelta(minutes=100)) == 2
    assert champion_from_entries(entries, (T + dt.timedelta(minutes=100)).replace(tzinfo=None)) == 2
    assert champion_from_entries(entries, T + dt.timedelta(days=9)) == 1


def test_format_history_is_a_table():
    text = format_history(
        [entry(1, "champion", None, 1, 0), entry(2, "champion", 1, 2, 5, reason="better\nby 0.1")]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["seq", "when", "(UTC)", "alias", "change", "action", "actor", "reason"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "2026-03-01 12:05:00" in lines[3] and "v1 -> v2" in lines[3] and lines[3].endswith("better by 0.1")
    assert "- -> v1" in lines[2]
    assert format_history([]) == "no alias changes recorded"
