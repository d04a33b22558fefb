"""Batch inference on a real moto DynamoDB server: items, faults, reruns, layouts, the table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from driftline.exceptions import SnapshotError
from driftline.inference.batch import run_batch_inference
from driftline.inference.errors import InferenceInputError, WriteIncompleteError
from driftline.inference.items import item_set_checksum
from inference_helpers import FaultyClient, scan_all

END = dt.datetime(2026, 1, 16, tzinfo=dt.UTC)
SCORED_AT = dt.datetime(2026, 1, 16, 1, 2, 3, tzinfo=dt.UTC)


def run(client: Any, config: Any, snapshot: dict[str, Any], model: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "run_id": "scheduled__2026-01-15T00:00:00+00:00",
        "data_time": END,
        "champion_version": 3,
        "load_model": lambda version: model,
        "scored_at": SCORED_AT,
        **kw,
    }
    return run_batch_inference(client, config, snapshot, **args)


def test_every_row_becomes_one_item_with_its_facts(ddb, make_config, validated, churn_model, current_frame):
    config = make_config(ttl_days=7)
    result = run(ddb, config, validated, churn_model)
    items = scan_all(ddb, config.inference.table)
    assert result["items"] == result["written"] == len(items) == len(current_frame)
    assert result["model_version"] == 3 and result["conditional"] is False
    assert result["consumed_wcu"] >= 0
    item = next(i for i in items if i["entity_id"] == current_frame["customer_id"].iloc[0])
    assert item["model_name"] == "churn" and item["model_version"] == 3 and item["alias"] == "champion"
    assert item["airflow_run_id"] == "scheduled__2026-01-15T00:00:00+00:00"
    assert item["scored_at"] == SCORED_AT.isoformat() and item["data_time"] == END.isoformat()
    assert item["prediction"] in (0, 1) and Decimal(0) <= item["score"] <= Decimal(1)
    assert item["expires_at"] == int((SCORED_AT + dt.timedelta(days=7)).timestamp())  # ttl_from: write_time
    ttl = ddb.describe_time_to_live(TableName=config.inference.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_injected_unprocessed_items_and_throttling_lose_and_duplicate_nothing(
    ddb, make_config, validated, churn_model, table_name
):
    reference = make_config(table=f"{table_name}-ref")
    run(ddb, reference, validated, churn_model)
    expected = item_set_checksum(scan_all(ddb, reference.inference.table))

    config = make_config()
    faulty = FaultyClient(ddb, unprocessed=0.3, throttle=0.05)
    result = run(faulty, config, validated, churn_model)
    assert faulty.injected_unprocessed > 0 and faulty.injected_throttles > 0
    assert result["unprocessed_resent"] == faulty.injected_unprocessed
    assert result["throttled"] == faulty.injected_throttles
    assert item_set_checksum(scan_all(ddb, config.inference.table)) == expected  # 0 lost, 0 duplicated


@pytest.mark.slow
def test_a_writer_killed_midway_then_retried_converges(ddb, make_config, validated, churn_model, table_name):
    reference = make_config(table=f"{table_name}-ref")
    run(ddb, reference, validated, churn_model)
    expected = item_set_checksum(scan_all(ddb, reference.inference.table))

    config = make_config()
    with pytest.raises(RuntimeError, match="writer killed"):
        run(FaultyClient(ddb, die_after=4), config, validated, churn_model)
    partial = len(scan_all(ddb, config.inference.table))
    assert 0 < partial < expected[0]
    # The retry is told the champion moved to 4 and scored later: it reuses the run's recorded decision.
    result = run(
        ddb, config, validated, churn_model, champion_version=4, scored_at=SCORED_AT + dt.timedelta(hours=1)
    )
    assert result["model_version"] == 3
    assert item_set_checksum(scan_all(ddb, config.inference.table)) == expected


@pytest.mark.slow
def test_a_rerun_of_the_same_logical_date_leaves_an_identical_item_set(
    ddb, make_config, validated, churn_model
):
    config = make_config()
    run(ddb, config, validated, churn_model, scored_at=None)
    first = item_set_checksum(scan_all(ddb, config.inference.table))
    run(ddb, config, validated, churn_model, scored_at=None)
    assert item_set_checksum(scan_all(ddb, config.inference.table)) == first


@pytest.mark.slow
def test_an_older_date_never_overwrites_newer_predictions(ddb, make_config, validated, churn_model):
    config = make_config()
    later = END + dt.timedelta(days=1)
    run(ddb, config, validated, churn_model, run_id="scheduled__later", data_time=later, champion_version=5)
    result = run(ddb, config, validated, churn_model, run_id="backfill__earlier", champion_version=4)
    assert (
        result["conditional"] is True and result["kept_newer"] == result["items"] and result["written"] == 0
    )
    items = scan_all(ddb, config.inference.table)
    assert {i["model_version"] for i in items} == {5}
    assert {i["data_time"] for i in items} == {later.isoformat()}


@pytest.mark.slow
def test_history_layout_keeps_one_item_per_entity_and_date(
    ddb, make_config, validated, churn_model, current_frame
):
    config = make_config(layout="history")
    run(ddb, config, validated, churn_model)
    run(ddb, config, validated, churn_model, run_id="next", data_time=END + dt.timedelta(days=1))
    items = scan_all(ddb, config.inference.table)
    assert len(items) == 2 * len(current_frame)
    assert {i["scored_for"] for i in items} == {"2026-01-16", "2026-01-17"}
    keys = ddb.describe_table(TableName=config.inference.table)["Table"]["KeySchema"]
    assert [(k["AttributeName"], k["KeyType"]) for k in keys] == [
        ("entity_id", "HASH"),
        ("scored_for", "RANGE"),
    ]


@pytest.mark.slow
def test_an_entity_seen_twice_is_scored_from_its_latest_row(
    ddb, make_config, churn_model, current_frame, driftline_home
):
    from driftline.data.snapshots import mark, write_snapshot

    dup = current_frame.iloc[[0]].copy()
    dup["event_time"] = dup["event_time"] + dt.timedelta(minutes=1)
    dup["tenure_months"] = 599
    frame = current_frame.iloc[[0]].pipe(lambda first: __import__("pandas").concat([dup, current_frame]))
    uri = str(driftline_home / "snapshots" / "dup.parquet")
    snapshot = mark(write_snapshot(frame.reset_index(drop=True), uri, {}), "validated").to_dict()
    config = make_config()
    result = run(ddb, config, snapshot, churn_model)
    assert result["rows"] == len(current_frame) + 1 and result["duplicates_dropped"] == 1
    assert result["items"] == len(current_frame) == len(scan_all(ddb, config.inference.table))


def test_retries_running_out_fail_saying_how_many_items_were_not_written(ddb, make_config, table_name):
    from driftline.config.models import InferenceSection
    from driftline.inference.table import ensure_table
    from driftline.inference.writer import BatchWriter

    ensure_table(ddb, InferenceSection(table=table_name))
    writer = BatchWriter(
        FaultyClient(ddb, throttle=1.0), table_name, writers=2, max_attempts=3, sleep=lambda s: None
    )
    with pytest.raises(
        WriteIncompleteError, match=rf"^60 of 60 item\(s\) were not written to DynamoDB table '{table_name}'"
    ):
        writer.write({"entity_id": f"e{i}", "prediction": 1} for i in range(60))


def test_a_missing_table_is_an_error_unless_creation_is_allowed(
    ddb, make_config, validated, churn_model, table_name
):
    config = make_config(create_if_missing=False)
    with pytest.raises(
        InferenceInputError,
        match=rf"table '{table_name}' does not exist and inference.create_if_missing is false",
    ):
        run(ddb, config, validated, churn_model)


@pytest.mark.slow
def test_a_table_with_other_keys_is_refused(ddb, make_config, validated, churn_model):
    run(ddb, make_config(), validated, churn_model)
    with pytest.raises(
        InferenceInputError,
        match=r"key schema is \[\('entity_id', 'HASH'\)\], the config \(layout 'history'\) needs",
    ):
        run(ddb, make_config(layout="history"), validated, churn_model)


def test_a_snapshot_that_does_not_match_its_validated_hash_is_refused(
    ddb, make_config, validated, churn_model
):
    with pytest.raises(SnapshotError, match="manifest sha256"):
        run(ddb, make_config(), {**validated, "sha256": "0" * 64}, churn_model)
    from pathlib import Path

    Path(validated["uri"]).write_bytes(Path(validated["uri"]).read_bytes() + b"tampered")
    with pytest.raises(SnapshotError, match="does not match its validated hash"):
        run(ddb, make_config(), validated, churn_model)


def test_an_item_over_400_kb_is_refused():
    from driftline.inference.items import check_size

    with pytest.raises(
        InferenceInputError, match=r"item for entity_id='e1' is \d+ bytes, over DynamoDB's 409600"
    ):
        check_size({"entity_id": "e1", "blob": "x" * 410_000}, "entity_id")


def test_the_writer_reports_its_calls_and_consumed_write_units(ddb, table_name):
    from driftline.config.models import InferenceSection
    from driftline.inference.table import ensure_table
    from driftline.inference.writer import BatchWriter

    ensure_table(ddb, InferenceSection(table=table_name))
    stats = BatchWriter(ddb, table_name, writers=2).write(
        {"entity_id": f"e{i}", "prediction": 1} for i in range(60)
    )
    report = stats.to_dict()
    assert report["items"] == report["written"] == 60 and report["calls"] == 3 and report["unwritten"] == 0
    assert report["consumed_wcu"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("ttl_from", ["write_time", "data_time"])
def test_a_backfilled_item_lives_ttl_days_from_its_write_time_unless_configured_otherwise(
    ddb, make_config, validated, churn_model, ttl_from
):
    """A backfill of a day a year ago: with `ttl_from: write_time` (the default) its items live 7 days
    from now; counted from data time they were expired the moment they were written."""
    config = make_config(ttl_days=7, ttl_from=ttl_from)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    year_ago = END - dt.timedelta(days=365)
    run(ddb, config, validated, churn_model, data_time=year_ago, scored_at=now)
    expires = {int(i["expires_at"]) for i in scan_all(ddb, config.inference.table)}
    start = now if ttl_from == "write_time" else year_ago
    assert expires == {int((start + dt.timedelta(days=7)).timestamp())}
    if ttl_from == "write_time":
        assert min(expires) > now.timestamp()
    else:
        assert max(expires) < now.timestamp()
