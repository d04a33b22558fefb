"""The run facts every step reads from the Airflow context."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from driftline.operators.base import run_interval, run_params

UTC = dt.UTC


def test_scheduled_interval_is_plain_utc():
    start = pendulum.datetime(2026, 1, 5, tz="Europe/Paris")
    start_out, end_out = run_interval({"data_interval_start": start, "data_interval_end": start.add(days=1)})
    assert (start_out, end_out) == (
        dt.datetime(2026, 1, 4, 23, tzinfo=UTC),
        dt.datetime(2026, 1, 5, 23, tzinfo=UTC),
    )
    assert type(start_out) is dt.datetime and start_out.tzinfo is UTC


@pytest.mark.parametrize(
    "context",
    [
        {
            "data_interval_start": pendulum.datetime(2026, 1, 5, 6),
            "data_interval_end": pendulum.datetime(2026, 1, 5, 6),
        },
        {
            "data_interval_start": None,
            "data_interval_end": None,
            "logical_date": pendulum.datetime(2026, 1, 5, 6),
        },
    ],
)
def test_empty_interval_means_the_last_whole_day(context):
    assert run_interval(context) == (dt.datetime(2026, 1, 4, tzinfo=UTC), dt.datetime(2026, 1, 5, tzinfo=UTC))


def test_params():
    p = run_params({"params": {"force_retrain": True, "window_days": 7, "skip_inference": False}})
    assert (p.force_retrain, p.window_days, p.skip_inference) == (True, 7, False)
    assert run_params({}).window_days is None
