"""Experiment membership by data time, and the served records the evaluation counts."""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.experiments.errors import ExperimentInputError
from driftline.experiments.evaluation import served_ids
from driftline.experiments.store import (
    ExperimentEndedError,
    experiment_for_data_time,
    finish_experiment,
    get_experiment,
    record_served,
    start_experiment,
)
from driftline.registry.retry import RetryPolicy

FAST = {"policy": RetryPolicy(attempts=2, backoff=0.0, budget=5.0), "lock_ttl": 30.0, "lock_wait": 5.0}
DEC = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
MARCH = dt.datetime(2026, 3, 14, tzinfo=dt.UTC)


def start(client, op_key="pipeline/run-1", challenger=2, started_at=DEC):
    return start_experiment(
        client, "churn", champion_version=1, challenger_version=challenger,
        shares={"champion": 0.5, "challenger": 0.5}, salt=f"churn:v{challenger}", op_key=op_key,
        started_at=started_at, **FAST,
    )  # fmt: skip


def test_a_march_backfill_is_not_part_of_decembers_experiment(ab_client):
    exp = start(ab_client)
    assert experiment_for_data_time(ab_client, "churn", MARCH) is None
    assert experiment_for_data_time(ab_client, "churn", DEC - dt.timedelta(seconds=1)) is None
    assert experiment_for_data_time(ab_client, "churn", DEC) == exp
    assert experiment_for_data_time(ab_client, "churn", DEC + dt.timedelta(days=3)) == exp
    with pytest.raises(ExperimentInputError, match="outside"):
        record_served(
            ab_client, "churn", exp.id, data_start=MARCH, data_end=MARCH + dt.timedelta(days=1),
            arms={"champion": 10, "challenger": 10}, op_key="pipeline/backfill-march", **FAST,
        )  # fmt: skip


def test_an_ended_experiment_takes_no_more_data_and_ends_at_its_data_time(ab_client):
    exp = start(ab_client)
    end = DEC + dt.timedelta(days=10)
    finish_experiment(ab_client, "churn", exp.id, "stopped", "done", op_key="e/1", data_end=end, **FAST)
    ended = get_experiment(ab_client, "churn", exp.id)
    assert ended.ended_data_time == end
    assert ended.covers(end - dt.timedelta(days=1)) and not ended.covers(end)
    assert experiment_for_data_time(ab_client, "churn", end - dt.timedelta(days=1)) is None
    with pytest.raises(ExperimentEndedError):
        record_served(
            ab_client, "churn", exp.id, data_start=DEC, data_end=DEC + dt.timedelta(days=1),
            arms={"champion": 1}, op_key="pipeline/rerun", **FAST,
        )  # fmt: skip


def test_served_records_round_trip_and_a_rerun_replaces_its_day(ab_client):
    exp = start(ab_client)
    day2 = DEC + dt.timedelta(days=1)
    for arms, op in (({"champion": 5, "challenger": 4}, "p/1"), ({"champion": 6, "challenger": 4}, "p/1b")):
        record_served(ab_client, "churn", exp.id, data_start=DEC, data_end=day2, arms=arms, op_key=op, **FAST)
    record_served(
        ab_client, "churn", exp.id, data_start=day2, data_end=day2 + dt.timedelta(days=1),
        arms={"champion": 7, "challenger": 0}, op_key="p/2", **FAST,
    )  # fmt: skip
    stored = get_experiment(ab_client, "churn", exp.id)
    assert [r["arms"] for r in stored.served] == [
        {"champion": 6, "challenger": 4},
        {"champion": 7, "challenger": 0},
    ]
    assert stored.running


def test_served_ids_keep_only_the_arms_that_window_served(ab_client):
    exp = start(ab_client)
    ids = [f"e{i}" for i in range(400)]
    both = served_ids(exp, ids, {"champion": 200, "challenger": 200})
    champion_only = served_ids(exp, ids, {"champion": 200, "challenger": 0})
    assert sorted(both) == sorted(ids)
    assert 120 < len(champion_only) < 280 and set(champion_only) < set(ids)
    assert served_ids(exp, [], {"champion": 1}) == []
