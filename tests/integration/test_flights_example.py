"""The real-data example (include/examples/flights): 2013 NYC departures replayed day by day.

A quiet stretch (Jan 29 - Feb 28, 31 days of real departures from EWR and JFK against a January
champion) retrains on at most a third of the days; a real move (LaGuardia's real departures join
the scored flights from March 1) leads to a retrain within days, and the gate promotes the challenger.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "examples" / "flights"
MOVE = dt.date(2013, 3, 1)


def _replay_module():
    spec = importlib.util.spec_from_file_location("flights_replay", EXAMPLE / "replay.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_the_example_config_validates_and_the_data_is_real_and_in_time_order() -> None:
    replay = _replay_module()
    config = replay.load_flights_config()
    assert config.drift.persistence.k == 2 and config.drift.decision == "calibrated"
    df = replay.load_flights()
    assert len(df) == 327_346 and df["day"].nunique() == 365
    assert set(df["origin"].unique()) == {"EWR", "JFK", "LGA"}
    assert 0.2 < df["delayed"].mean() < 0.25


@pytest.mark.slow
def test_quiet_days_rarely_retrain_and_a_real_move_retrains_and_promotes() -> None:
    replay = _replay_module()
    warnings.filterwarnings("ignore")
    df = replay.onboard_airport(replay.load_flights(), "LGA", MOVE)
    rows = replay.replay(df, replay.load_flights_config(), dt.date(2013, 1, 29), dt.date(2013, 3, 6))
    quiet = [r for r in rows if r["day"] < MOVE.isoformat()]
    moved = [r for r in rows if r["day"] >= MOVE.isoformat()]
    assert len(quiet) == 31
    retrains = sum(r["retrain"] for r in quiet)
    assert retrains <= len(quiet) / 3, [r["day"] for r in quiet if r["retrain"]]
    assert any(r["retrain"] for r in moved[:4]), moved[:4]
    first = next(r for r in moved if r["retrain"])
    assert any(reason.startswith("data drift") for reason in first["reasons"])
    assert "origin" in first["drifted_columns"]
    assert any(r["promoted"] for r in moved)
    # the example enables the label-free estimate (monitor only): one per day, beside that day's labels
    unestimated = [r["day"] for r in rows if r.get("estimate", {}).get("realised") is None]
    assert not unestimated
    assert not any("estimated" in reason for r in rows for reason in r["reasons"])  # retrain: false
