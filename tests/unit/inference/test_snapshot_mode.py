"""Snapshot mode on moto: S3 DynamoDB JSON, ImportTable into a table per run, the deferrable wait,
the pointer switch, retention, and the service reading through the pointer."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any

import pytest
from inference_helpers import EXPORT_BUCKET as BUCKET
from inference_helpers import scan_all, wait_for_import

T0 = dt.datetime(2026, 1, 16, 6, tzinfo=dt.UTC)


def load(ddb, config, validated, model, run_id, data_time, version, now):
    from driftline.inference.snapshot_run import finish_snapshot_run, start_snapshot_run
    from driftline.objectstore import object_path

    start = start_snapshot_run(
        ddb,
        config,
        validated,
        run_id=run_id,
        data_time=data_time,
        champion_version=version,
        load_model=lambda v: model,
        path_of=lambda uri: object_path(uri, "aws_default"),
        scored_at=now,
    )
    event = wait_for_import(start["import_arn"])
    assert event == {"status": "success", "import_arn": start["import_arn"]}
    return start, finish_snapshot_run(ddb, config, start, now=now)


def test_a_run_imports_a_new_table_and_switches_the_pointer_to_it(
    ddb, ddb_endpoint, snap_config, validated, churn_model, current_frame
):
    import boto3
    from driftline.inference.snapshot import read_pointer

    start, result = load(ddb, snap_config, validated, churn_model, "scheduled__a", T0, 2, T0)
    cfg = snap_config.inference
    table = result["table"]
    assert table.startswith(f"{cfg.table}.20260116.") and result["pointer_table"] == cfg.table
    assert result["written"] == result["items"] == validated["rows"] == len(current_frame)
    assert result["switched"] and result["previous_table"] is None and result["dropped_tables"] == []
    items = {i["entity_id"]: i for i in scan_all(ddb, table)}
    assert len(items) == validated["rows"]
    sample = items[str(current_frame["customer_id"].iloc[0])]
    assert sample["model_name"] == "churn" and sample["model_version"] == 2 and sample["alias"] == "champion"
    assert sample["airflow_run_id"] == "scheduled__a" and 0 <= sample["score"] <= 1
    assert sample["prediction"] in (0, 1) and sample["expires_at"] > T0.timestamp()
    assert scan_all(ddb, cfg.table) == []  # the pointer table holds meta items only
    pointer = read_pointer(ddb, cfg)
    assert pointer["table"] == table and pointer["model_version"] == 2
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
    # the export: gzip DynamoDB JSON lines under the run table's own prefix
    s3 = boto3.client("s3", endpoint_url=ddb_endpoint, region_name="us-east-1")
    prefix = start["export_uri"].removeprefix(f"s3://{BUCKET}/")
    [obj] = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()).splitlines()
    first = json.loads(lines[0])["Item"]
    assert (
        len(lines) == validated["rows"] and first["model_version"] == {"N": "2"} and "S" in first["entity_id"]
    )


def test_a_retry_finds_the_same_import_instead_of_starting_another(ddb, snap_config, validated, churn_model):
    from driftline.inference.snapshot_run import finish_snapshot_run, start_snapshot_run
    from driftline.objectstore import object_path

    def start(version: int, model: Any) -> Any:
        return start_snapshot_run(
            ddb,
            snap_config,
            validated,
            run_id="scheduled__r",
            data_time=T0,
            champion_version=version,
            load_model=lambda v: model,
            path_of=lambda uri: object_path(uri, "aws_default"),
            scored_at=T0,
        )

    first = start(2, churn_model)
    # the retry sees another champion and must neither score again nor start a second import
    again = start(5, None)
    assert not first["resumed"] and again["resumed"]
    assert again["import_arn"] == first["import_arn"] and again["table"] == first["table"]
    assert again["stamp"] == first["stamp"] and again["export_items"] == first["export_items"]
    wait_for_import(again["import_arn"])
    done = finish_snapshot_run(ddb, snap_config, again, now=T0)
    twice = finish_snapshot_run(ddb, snap_config, again, now=T0)  # finishing twice changes nothing
    assert {**done, "seconds": 0} == {**twice, "seconds": 0}
    assert done["model_version"] == 2


@pytest.mark.slow
def test_new_runs_switch_the_pointer_and_retired_tables_are_dropped_after_retention(
    ddb, snap_config, validated, churn_model
):
    from driftline.inference.snapshot import read_pointer
    from driftline.inference.table import describe

    day = dt.timedelta(days=1)
    hour = dt.timedelta(hours=1)
    _, one = load(ddb, snap_config, validated, churn_model, "r1", T0, 1, T0)
    _, two = load(ddb, snap_config, validated, churn_model, "r2", T0 + day, 2, T0 + hour)
    assert two["switched"] and two["previous_table"] == one["table"] and two["dropped_tables"] == []
    assert describe(ddb, one["table"]) is not None  # replaced 0 h ago, retention 2 h: kept
    # a backfill of an older date never moves the pointer back; its table is retired at once
    _, old = load(ddb, snap_config, validated, churn_model, "r0", T0 - day, 3, T0 + 2 * hour)
    assert not old["switched"] and read_pointer(ddb, snap_config.inference)["table"] == two["table"]
    _, three = load(ddb, snap_config, validated, churn_model, "r3", T0 + 2 * day, 4, T0 + 4 * hour)
    assert three["switched"] and sorted(three["dropped_tables"]) == sorted([one["table"], old["table"]])
    assert describe(ddb, one["table"]) is None and describe(ddb, old["table"]) is None
    assert describe(ddb, two["table"]) is not None
    assert set(read_pointer(ddb, snap_config.inference)["retired"]) == {two["table"]}


def test_the_service_reads_through_the_pointer(ddb, snap_config, validated, churn_model, current_frame):
    from driftline.service.app import create_app
    from driftline.service.auth import digest
    from driftline.service.cache import ResponseCache
    from driftline.service.champion import ChampionCache
    from fastapi.testclient import TestClient

    versions = [2]
    champions = ChampionCache(lambda name: versions[0], lambda name, v: churn_model, ttl_s=0)
    app = create_app(
        {"churn": snap_config}, lambda cfg: ddb, frozenset({digest("k")}), champions, ResponseCache(), 0.0
    )
    client = TestClient(app)
    entity = str(current_frame["customer_id"].iloc[0])
    url = f"/v1/models/churn/predictions/{entity}"
    assert client.get(url, headers={"X-API-Key": "k"}).status_code == 404  # no import switched yet
    now = dt.datetime.now(dt.UTC)  # items live ttl_days from their write time; expired ones are never served
    load(ddb, snap_config, validated, churn_model, "s1", T0, 2, now)
    assert client.get(url, headers={"X-API-Key": "k"}).json()["model_version"] == 2
    load(ddb, snap_config, validated, churn_model, "s2", T0 + dt.timedelta(days=1), 3, now)
    body = client.get(url, headers={"X-API-Key": "k"}).json()
    assert body["model_version"] == 3 and body["airflow_run_id"] == "s2"  # the pointer moved: cache dropped
    batch = client.post(
        "/v1/models/churn/predictions:batchGet",
        json={"entity_ids": [entity, "nobody"]},
        headers={"X-API-Key": "k"},
    ).json()
    assert [p["airflow_run_id"] for p in batch["predictions"]] == ["s2"] and batch["missing"] == ["nobody"]


def test_snapshot_mode_needs_an_s3_export_uri(make_config):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="mode 'snapshot' needs export_uri"):
        make_config(mode="snapshot")
    with pytest.raises(ValidationError, match="export_uri"):
        make_config(mode="snapshot", export_uri="/tmp/exports")


def test_an_import_that_failed_or_lost_items_fails_for_good_and_one_still_running_is_retried():
    from driftline.exceptions import PermanentError
    from driftline.inference.errors import InferenceError
    from driftline.inference.snapshot import ImportFailedError, check_import

    arn = "arn:aws:dynamodb:us-east-1:1:table/t/import/1"
    done = {"ImportArn": arn, "ImportStatus": "COMPLETED", "ImportedItemCount": 300, "ErrorCount": 0}
    assert check_import(done, 300) == 300
    with pytest.raises(ImportFailedError, match="ended FAILED: S3NoSuchBucket The specified bucket"):
        check_import(
            {
                **done,
                "ImportStatus": "FAILED",
                "FailureCode": "S3NoSuchBucket",
                "FailureMessage": "The specified bucket",
            },
            300,
        )
    with pytest.raises(ImportFailedError, match="imported 299 of 300 exported item\\(s\\) with 1 error"):
        check_import({**done, "ImportedItemCount": 299, "ErrorCount": 1}, 300)
    with pytest.raises(InferenceError, match="is still IN_PROGRESS") as running:
        check_import({**done, "ImportStatus": "IN_PROGRESS"}, 300)
    assert not isinstance(running.value, PermanentError)


class PointerPutFails:
    """A real client whose next PutItem on the pointer item dies (a killed worker, a lost connection)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        if self.armed and kwargs["Item"].get("kind", {}).get("S") == "pointer":
            self.armed = False
            raise RuntimeError("worker killed before the pointer switch")
        return self._client.put_item(**kwargs)


@pytest.mark.slow
def test_with_retention_0_no_table_is_dropped_before_the_switch_and_never_the_one_the_pointer_names(
    ddb, snap_config, validated, churn_model
):
    """retention_hours: 0 drops a replaced table at once; it used to be dropped *before* the conditional
    pointer switch, so a switch that failed left the pointer naming a table that no longer existed."""
    from driftline.inference.snapshot import read_pointer
    from driftline.inference.snapshot_run import finish_snapshot_run
    from driftline.inference.table import describe

    config = snap_config.model_copy(
        update={"inference": snap_config.inference.model_copy(update={"retention_hours": 0})}
    )
    cfg = config.inference
    _, one = load(ddb, config, validated, churn_model, "r1", T0, 1, T0)
    assert read_pointer(ddb, cfg)["table"] == one["table"]
    start, _ = load_started(ddb, config, validated, churn_model, "r2", T0 + dt.timedelta(days=1), 2)
    faulty = PointerPutFails(ddb)
    with pytest.raises(RuntimeError, match="worker killed"):
        finish_snapshot_run(faulty, config, start, now=T0 + dt.timedelta(hours=1))
    pointer = read_pointer(ddb, cfg)
    assert pointer["table"] == one["table"]
    assert describe(ddb, pointer["table"]) is not None  # was: dropped, the pointer naming nothing
    done = finish_snapshot_run(ddb, config, start, now=T0 + dt.timedelta(hours=1))  # the retry
    assert done["switched"] and done["dropped_tables"] == [one["table"]]
    pointer = read_pointer(ddb, cfg)
    assert pointer["table"] == done["table"] and describe(ddb, done["table"]) is not None
    assert describe(ddb, one["table"]) is None and not pointer.get("retired")


@pytest.mark.slow
def test_a_drop_that_fails_after_the_switch_is_finished_by_the_retry(
    ddb, snap_config, validated, churn_model
):
    """Tables are dropped after the switch and stay listed in `retired` until they are gone: a drop
    that dies midway is not forgotten (the retry drops it), and the pointer's own table is never dropped."""
    from driftline.inference.snapshot import drop_retired, read_pointer
    from driftline.inference.snapshot_run import finish_snapshot_run
    from driftline.inference.table import describe

    config = snap_config.model_copy(
        update={"inference": snap_config.inference.model_copy(update={"retention_hours": 0})}
    )
    cfg = config.inference
    _, one = load(ddb, config, validated, churn_model, "r1", T0, 1, T0)
    start, _ = load_started(ddb, config, validated, churn_model, "r2", T0 + dt.timedelta(days=1), 2)

    class DropFails:
        def __getattr__(self, name: str) -> Any:
            return getattr(ddb, name)

        def delete_table(self, **kwargs: Any) -> Any:
            raise RuntimeError("worker killed at DeleteTable")

    with pytest.raises(RuntimeError, match="DeleteTable"):
        finish_snapshot_run(DropFails(), config, start, now=T0 + dt.timedelta(hours=1))
    pointer = read_pointer(ddb, cfg)
    assert pointer["table"] == start["table"] and set(pointer["retired"]) == {one["table"]}
    done = finish_snapshot_run(ddb, config, start, now=T0 + dt.timedelta(hours=1))
    assert done["dropped_tables"] == [one["table"]] and describe(ddb, one["table"]) is None
    # asked to drop the table the pointer names, it refuses
    assert drop_retired(ddb, cfg, [start["table"]]) == []
    assert describe(ddb, start["table"]) is not None


def load_started(ddb, config, validated, model, run_id, data_time, version):
    from driftline.inference.snapshot_run import start_snapshot_run
    from driftline.objectstore import object_path

    start = start_snapshot_run(
        ddb,
        config,
        validated,
        run_id=run_id,
        data_time=data_time,
        champion_version=version,
        load_model=lambda v: model,
        path_of=lambda uri: object_path(uri, "aws_default"),
        scored_at=data_time,
    )
    wait_for_import(start["import_arn"])
    return start, None
