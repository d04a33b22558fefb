"""Snapshot mode during an A/B experiment, on moto: both arms and the no_model holdout in the imported
table, the plan recorded with the run's decision and reused by a retry at every stage, the per-arm
counts in the payload, and the service returning each entity's arm."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from driftline.experiments.assignment import assign_arms
from driftline.inference.arms import ArmPlan
from driftline.inference.items import item_set_checksum
from inference_helpers import PLAN, KilledAtImport, WithListImports, scan_all, wait_for_import

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

T0 = dt.datetime(2026, 1, 16, 6, tzinfo=dt.UTC)
RUN = "scheduled__2026-01-15T00:00:00+00:00"
# what a retry is handed and must ignore: another champion, another experiment, another time
OTHER_PLAN = ArmPlan(5, 8, "churn:v8", 0.5, 0.0)
LATER = T0 + dt.timedelta(hours=3)


def start(client: Any, config: Any, snapshot: dict[str, Any], models: dict[int, Any], **kw: Any) -> Any:
    from driftline.inference.snapshot_run import start_snapshot_run
    from driftline.objectstore import object_path

    args: dict[str, Any] = {
        "run_id": RUN,
        "data_time": T0,
        "champion_version": 3,
        "load_model": lambda version: models[version],
        "path_of": lambda uri: object_path(uri, "aws_default"),
        "scored_at": T0,
        "experiment": PLAN,
        **kw,
    }
    return start_snapshot_run(client, config, snapshot, **args)


def retry(client: Any, config: Any, snapshot: dict[str, Any], models: dict[int, Any]) -> Any:
    """A retry handed a different champion, experiment and time: any of them used would show."""
    return start(client, config, snapshot, models, champion_version=8, experiment=OTHER_PLAN, scored_at=LATER)


def finish(client: Any, config: Any, started: Any) -> Any:
    from driftline.inference.snapshot_run import finish_snapshot_run

    assert wait_for_import(started["import_arn"])["status"] == "success"
    # the deferred half gets `start` back through the trigger's kwargs: JSON only
    return finish_snapshot_run(client, config, json.loads(json.dumps(started)), now=T0)


@pytest.fixture
def big_validated(driftline_home: Any, churn_generator: Any) -> dict[str, Any]:
    """A validated current window of 2000 distinct customers (enough to see the shares)."""
    from driftline.data.snapshots import mark, snapshot_uri, write_snapshot

    frame = churn_generator.day_frame(dt.date(2026, 1, 15), 2000, False, 5)
    frame = frame.dropna(subset=["customer_id"]).reset_index(drop=True)
    uri = snapshot_uri(str(driftline_home / "snapshots"), "churn", RUN, "current_window")
    return mark(write_snapshot(frame, uri, {}), "validated").to_dict()


def test_both_arms_and_the_holdout_are_imported_counted_and_served(
    ddb, snap_config, big_validated, churn_model, constant_model
):
    from driftline.inference.runs import read_run
    from driftline.service.store import PredictionStore

    models = {3: churn_model, 7: constant_model}
    cfg = snap_config.inference.model_copy(update={"chunk_rows": 1000})
    snap_config = snap_config.model_copy(update={"inference": cfg})
    # written now: items live inference.ttl_days from their write time, and the service below never
    # returns an expired item (written at T0, January, they would be long gone)
    started = start(ddb, snap_config, big_validated, models, scored_at=dt.datetime.now(dt.UTC))
    assert json.loads(json.dumps(started)) == started  # it travels through the trigger
    result = finish(ddb, snap_config, started)
    assert read_run(ddb, cfg, RUN)["arms"] == PLAN.to_json()  # the plan is recorded with the decision
    items = {i["entity_id"]: i for i in scan_all(ddb, result["table"])}
    ids = list(items)
    expected = dict(
        zip(ids, assign_arms(ids, salt="churn:v7", challenger_share=0.3, holdout_share=0.2), strict=True)
    )
    assert {e: i["arm"] for e, i in items.items()} == expected
    counts = Counter(expected.values())
    assert result["arms"] == started["arms"] == dict(counts)
    assert sum(counts.values()) == result["written"] == result["items"] == big_validated["rows"] == 2000
    assert result["experiment_id"] == 4 and result["challenger_version"] == 7 and result["model_version"] == 3
    shares = {arm: n / 2000 for arm, n in counts.items()}
    assert shares == pytest.approx({"champion": 0.5, "challenger": 0.3, "no_model": 0.2}, abs=0.04)
    for item in items.values():
        assert item["experiment_id"] == 4 and item["airflow_run_id"] == RUN
        if item["arm"] == "champion":
            assert item["model_version"] == 3 and item["alias"] == "champion" and 0 < item["score"] < 1
        elif item["arm"] == "challenger":
            assert item["model_version"] == 7 and item["alias"] == "challenger" and item["score"] == 0
        else:
            assert item["prediction"] == 0 and "score" not in item
            assert "model_version" not in item and "alias" not in item
    # the service reads the imported table through the pointer: every entity with its arm
    store = PredictionStore(ddb, cfg)
    table = store.read_generation()[0]
    assert table == result["table"]
    sample = ids[:100]
    served = store.get_many_from(table, sample)
    assert {e: p["arm"] for e, p in served.items()} == {e: expected[e] for e in sample}
    holdout = next(e for e in ids if expected[e] == "no_model")
    one = store.get_from(table, holdout)
    assert one is not None and one["arm"] == "no_model" and one["experiment_id"] == 4
    assert "model_version" not in one


STAGES = ("after_export", "import_started", "import_recorded", "imported")


def killed_and_retried(
    stage: str, ddb: Any, config: Any, snapshot: dict[str, Any], models: dict[int, Any]
) -> Any:
    """A try killed at `stage`, then a retry handed another decision; the retry's start payload."""
    if stage == "after_export":  # the export is written and recorded, ImportTable never called
        with pytest.raises(RuntimeError, match="killed before ImportTable"):
            start(KilledAtImport(ddb, "before"), config, snapshot, models)
        again = retry(ddb, config, snapshot, models)
        assert not again["resumed"]  # scored and exported again, with the recorded stamp and plan
    elif stage == "import_started":  # ImportTable returned, its ARN was never recorded
        killed = KilledAtImport(ddb, "after")
        with pytest.raises(RuntimeError, match="killed after ImportTable"):
            start(killed, config, snapshot, models)
        assert killed.import_arn is not None
        wait_for_import(killed.import_arn)  # moto creates the table in its import thread
        again = retry(WithListImports(ddb), config, snapshot, {})
        assert again["resumed"] and again["import_arn"] == killed.import_arn
    elif stage == "import_recorded":  # killed while deferred: the import runs, its ARN recorded
        first = start(ddb, config, snapshot, models)
        again = retry(ddb, config, snapshot, {})
        assert again["resumed"] and again["import_arn"] == first["import_arn"]
    else:  # the import (and the pointer switch) finished, then the task was retried
        first = start(ddb, config, snapshot, models)
        done = finish(ddb, config, first)
        again = retry(ddb, config, snapshot, {})
        assert again["resumed"] and again["import_status"] == "COMPLETED"
        assert {**finish(ddb, config, again), "seconds": 0} == {**done, "seconds": 0}
    return again


def test_a_retry_at_each_stage_reuses_the_recorded_plan(
    ddb, snap_config, make_config, table_name, validated, churn_model, constant_model
):
    """Each stage on its own pointer table, compared with one fault-free run (count + checksum)."""
    models = {3: churn_model, 7: constant_model}  # the retries' versions (8) cannot be loaded
    cfg = snap_config.inference

    def config_for(name: str) -> Any:
        return make_config(**{**cfg.model_dump(), "table": f"{table_name}-{name}"})

    reference = finish(ddb, config_for("ref"), start(ddb, config_for("ref"), validated, models))
    expected = item_set_checksum(scan_all(ddb, reference["table"]))
    same = ("model_version", "scored_at", "experiment_id", "challenger_version", "arms", "written")
    assert reference["experiment_id"] == 4 and sum(reference["arms"].values()) == validated["rows"]
    for stage in STAGES:
        config = config_for(stage)
        result = finish(ddb, config, killed_and_retried(stage, ddb, config, validated, models))
        assert item_set_checksum(scan_all(ddb, result["table"])) == expected, stage
        assert {k: result[k] for k in same} == {k: reference[k] for k in same}, stage


def test_a_run_without_an_experiment_stays_without_one_on_retry(ddb, snap_config, validated, churn_model):
    first = start(ddb, snap_config, validated, {3: churn_model}, experiment=None)
    again = retry(ddb, snap_config, validated, {})
    result = finish(ddb, snap_config, again)
    assert first["stamp"] == again["stamp"] and "arms" not in first["stamp"]
    assert not {"experiment_id", "challenger_version", "arms"} & set(result)
    assert {i.get("arm") for i in scan_all(ddb, result["table"])} == {None}
