"""The spark scorer (mapInPandas per partition) yields the same items as the pandas and duckdb scorers."""

from __future__ import annotations

from typing import Any

import pytest
from driftline.engines.duckdb_scoring import score_items as duckdb_score_items
from driftline.engines.duckdb_scoring import scorer_for
from driftline.engines.spark_scoring import score_items
from driftline.inference.items import item_set_checksum
from driftline.inference.scoring import score_items as pandas_score_items

from tests.unit.engines.test_duckdb_scoring import setup as duckdb_setup  # noqa: F401 (a fixture)
from tests.unit.engines.test_duckdb_scoring import stamp

pytestmark = pytest.mark.slow  # trains a model and runs Python workers


@pytest.fixture
def spark_setup(duckdb_setup, spark_session) -> tuple[Any, Any, Any]:  # noqa: F811
    from driftline.config.models import ComputeSection

    cfg, model, source = duckdb_setup
    cfg = cfg.model_copy(deep=True)
    cfg.compute = ComputeSection(engine="spark", spark={"submit": False})  # this process is the driver
    return cfg, model, source


def test_same_items_and_counts_as_the_pandas_and_duckdb_scorers(spark_setup) -> None:
    """Latest row per entity (a later row and a tie later in the file win), chunked batches."""
    cfg, model, source = spark_setup
    want: dict[str, int] = {}
    got: dict[str, int] = {}
    expected = list(pandas_score_items(model, source, cfg, stamp(), want))
    items = list(score_items(model, source, cfg, stamp(), got))
    duck = list(duckdb_score_items(model, source, cfg, stamp(), {}))
    assert item_set_checksum(items) == item_set_checksum(expected) == item_set_checksum(duck)
    assert got == want and got["duplicates_dropped"] == 2
    assert scorer_for(cfg) is score_items
    from driftline.engines import spark_submit

    submitted = cfg.model_copy(deep=True)
    submitted.compute = submitted.compute.model_copy(
        update={"spark": submitted.compute.spark.model_copy(update={"submit": True})}
    )
    assert scorer_for(submitted) is spark_submit.score_items  # under Airflow: a submitted application


def test_an_experiment_splits_the_same_arms_as_the_pandas_scorer(spark_setup) -> None:
    from driftline.inference.arms import ArmPlan
    from driftline.inference.scoring import arm_counts

    cfg, model, source = spark_setup
    plan = ArmPlan(
        experiment_id=7, challenger_version=4, salt="s'alt", challenger_share=0.4, holdout_share=0.2
    )
    want: dict[str, int] = {}
    got: dict[str, int] = {}
    expected = list(pandas_score_items(model, source, cfg, stamp(), want, (plan, model)))
    items = list(score_items(model, source, cfg, stamp(), got, (plan, model)))
    assert item_set_checksum(items) == item_set_checksum(expected)
    assert arm_counts(got) == arm_counts(want) and len(arm_counts(got)) == 3
