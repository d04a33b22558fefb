"""The duckdb scorer streams the same items as the pandas engine's scorer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from driftline.config.models import ComputeSection, InferenceSection
from driftline.data.snapshots import mark, snapshot_uri, write_snapshot
from driftline.engines.duckdb_scoring import score_items, scorer_for
from driftline.inference.items import RunStamp, item_set_checksum
from driftline.inference.scoring import score_items as pandas_score_items
from driftline.inference.scoring import verify_snapshot

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow


@pytest.fixture
def setup(driftline_home, churn_generator, example_config) -> tuple[Any, Any, Any]:
    from driftline.training.estimators import fit_model, prepare_features

    cfg = example_config.model_copy(deep=True)
    cfg.inference = InferenceSection(table="t-preds", chunk_rows=100)
    cfg.compute = ComputeSection(engine="duckdb", memory_limit_mb=256)
    train = churn_generator.day_frame(dt.date(2026, 1, 3), 400, False, 1).dropna(subset=["customer_id"])
    model = fit_model(
        cfg.training.estimator,
        cfg.data.features,
        prepare_features(train, cfg.data.features),
        train[cfg.data.label],
    )
    frame = churn_generator.day_frame(dt.date(2026, 1, 5), 350, False, 2).dropna(subset=["customer_id"])
    first = frame.iloc[[0]].copy()
    later = first.assign(event_time=first["event_time"] + dt.timedelta(minutes=1), tenure_months=599)
    tie = first.assign(tenure_months=77)  # same time as the first row, later in the file: it wins
    frame = pd.concat([later, frame, tie], ignore_index=True)
    frame = frame.assign(
        event_time=frame["event_time"].where(frame.index != len(frame) - 1, later["event_time"].iloc[0])
    )
    ref = mark(write_snapshot(frame, snapshot_uri(None, "churn", "r", "current")), "validated")
    return cfg, model, verify_snapshot(ref.to_dict())


def stamp() -> RunStamp:
    return RunStamp(
        model_name="churn",
        model_version=3,
        alias="champion",
        run_id="scheduled__2026-01-05",
        data_time="2026-01-06T00:00:00+00:00",
        scored_at="2026-01-06T01:00:00+00:00",
    )


def test_same_items_and_counts_as_the_pandas_scorer(setup) -> None:
    cfg, model, source = setup
    want: dict[str, int] = {}
    got: dict[str, int] = {}
    expected = list(pandas_score_items(model, source, cfg, stamp(), want))
    items = list(score_items(model, source, cfg, stamp(), got))
    assert item_set_checksum(items) == item_set_checksum(expected)
    assert got == want and got["duplicates_dropped"] == 2


def test_the_model_engine_picks_the_scorer(setup, example_config) -> None:
    cfg, _, _ = setup
    assert scorer_for(cfg) is score_items
    assert scorer_for(example_config) is pandas_score_items


def test_an_experiment_splits_the_same_arms_as_the_pandas_scorer(setup) -> None:
    """A/B arms on duckdb: each entity by its arm's model, the same items and arm counts."""
    from driftline.inference.arms import ArmPlan
    from driftline.inference.scoring import arm_counts

    cfg, model, source = setup
    plan = ArmPlan(
        experiment_id=7, challenger_version=4, salt="s'alt", challenger_share=0.4, holdout_share=0.2
    )
    challenger = model  # the same estimator: the arms still differ in their stamps (version, alias)
    want: dict[str, int] = {}
    got: dict[str, int] = {}
    expected = list(pandas_score_items(model, source, cfg, stamp(), want, (plan, challenger)))
    items = list(score_items(model, source, cfg, stamp(), got, (plan, challenger)))
    assert item_set_checksum(items) == item_set_checksum(expected)
    assert arm_counts(got) == arm_counts(want) and len(arm_counts(got)) == 3
