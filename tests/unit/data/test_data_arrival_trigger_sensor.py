"""DataArrivalTrigger (its real async run()) and DataArrivalSensor (execute / execute_complete / poke).

Local partitions, moto S3 and SQLite; data that arrives while the trigger polls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError
from driftline.sensors.arrival import DataArrivalSensor
from driftline.triggers.arrival import DataArrivalTrigger

TEMPLATE = "{data_root}/churn/dt={ds}/part.parquet"


def trigger(source: dict[str, Any], day: str, *, wait_s: float = 5.0, poke: float = 0.05, **kw: Any):
    start = dt.datetime.fromisoformat(f"{day}T00:00:00+00:00")
    return DataArrivalTrigger(
        source=source,
        field=kw.pop("field", "data.source"),
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(days=1)).isoformat(),
        timestamp_col="event_time",
        deadline=(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait_s)).isoformat(),
        poke_interval=poke,
        **kw,
    )


async def _first_event(trig: DataArrivalTrigger, meanwhile: Any = None) -> dict[str, Any]:
    side = asyncio.create_task(meanwhile) if meanwhile is not None else None
    async for event in trig.run():
        if side is not None:
            await side
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def run_trigger(trig: DataArrivalTrigger, meanwhile: Any = None) -> dict[str, Any]:
    return asyncio.run(_first_event(trig, meanwhile))


async def _later(seconds: float, action: Any) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(action)


# --- trigger ---------------------------------------------------------------------------------


def test_trigger_serializes_to_itself():
    trig = trigger({"kind": "local", "path": TEMPLATE}, "2026-01-03", freshness_query=None)
    path, kwargs = trig.serialize()
    assert path == "driftline.triggers.arrival.DataArrivalTrigger"
    assert DataArrivalTrigger(**kwargs).serialize() == (path, kwargs)


def test_trigger_waits_for_a_local_partition_that_arrives(churn_data: Path):
    src = churn_data / "churn/dt=2026-01-10/part.parquet"
    dest = churn_data / "churn/dt=2026-01-11/part.parquet"

    def arrive() -> None:
        dest.parent.mkdir()
        shutil.copy(src, dest)

    event = run_trigger(trigger({"kind": "local", "path": TEMPLATE}, "2026-01-11"), _later(0.3, arrive))
    assert event["status"] == "arrived" and event["polls"] > 1
    assert event["arrival"]["found"] == [str(dest)]


def test_trigger_times_out_naming_the_missing_partition(churn_data: Path):
    event = run_trigger(trigger({"kind": "local", "path": TEMPLATE}, "2026-01-12", wait_s=0.2))
    assert event["status"] == "timeout"
    assert event["arrival"]["missing"] == [f"2026-01-12: {churn_data / 'churn/dt=2026-01-12/part.parquet'}"]


def test_trigger_reports_a_missing_root_at_once(driftline_home: Path):
    event = run_trigger(
        trigger({"kind": "local", "path": "{data_root}/nope/dt={ds}/x.parquet"}, "2026-01-03")
    )
    assert event["status"] == "error" and event["polls"] == 1
    assert event["message"].startswith("data.source.path: folder ")


def test_trigger_waits_for_an_s3_object_that_arrives(s3_bucket, moto_server):
    import boto3

    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    key = "late/dt=2026-03-01/part-0.parquet"

    event = run_trigger(
        trigger({"kind": "s3", "uri": f"s3://{s3_bucket}/late/dt={{ds}}/part-0.parquet"}, "2026-03-01"),
        _later(0.3, lambda: client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")),
    )
    assert event["status"] == "arrived" and event["arrival"]["found"] == [key]


def test_trigger_s3_missing_bucket_is_an_error(s3_bucket):
    event = run_trigger(trigger({"kind": "s3", "uri": "s3://no-bucket-here/k/{ds}.parquet"}, "2026-01-02"))
    assert event["status"] == "error" and "bucket 'no-bucket-here' does not exist" in event["message"]


def test_trigger_sql_freshness_query(sqlite_db):
    import sqlite3

    source = {"kind": "sql", "conn_id": "churn_db", "table": "events"}
    query = "SELECT MAX(event_time) FROM events"

    def load_next_day() -> None:
        with sqlite3.connect(sqlite_db) as conn:
            conn.execute(
                "INSERT INTO events (customer_id, event_time) VALUES ('late', '2026-01-11 00:30:00')"
            )

    event = run_trigger(trigger(source, "2026-01-10", freshness_query=query), _later(0.3, load_next_day))
    assert event["status"] == "arrived" and event["arrival"]["found"] == [
        "freshness 2026-01-11T00:30:00+00:00"
    ]


# --- sensor ----------------------------------------------------------------------------------


def config(example_config: ModelConfig, **wait: Any) -> ModelConfig:
    raw = example_config.model_dump(mode="json")
    raw["data"]["wait"] = {**raw["data"]["wait"], **wait}
    return ModelConfig.model_validate(raw)


def context(day: int) -> dict[str, Any]:
    start = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {"data_interval_start": start, "data_interval_end": start + dt.timedelta(days=1), "params": {}}


def test_sensor_settings_come_from_the_config(example_config):
    sensor = DataArrivalSensor(
        model_config=config(example_config, timeout_minutes=90, poke_interval_seconds=30, mode="reschedule")
    )
    assert (sensor.task_id, sensor.timeout, sensor.poke_interval) == ("wait_for_data", 5400, 30)
    assert sensor.mode == "reschedule" and not sensor.deferrable
    assert DataArrivalSensor(model_config=example_config).deferrable


def test_sensor_returns_at_once_when_the_data_is_there(example_config, churn_data: Path):
    result = DataArrivalSensor(model_config=example_config).execute(context(3))
    assert result["arrived"] and result["found"] == [str(churn_data / "churn/dt=2026-01-03/part.parquet")]


def test_sensor_defers_then_completes(example_config, churn_data: Path):
    from airflow.sdk.exceptions import TaskDeferred

    sensor = DataArrivalSensor(
        model_config=config(example_config, timeout_minutes=30, poke_interval_seconds=60)
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context(11))
    trig = deferred.value.trigger
    assert isinstance(trig, DataArrivalTrigger) and deferred.value.method_name == "execute_complete"
    assert trig.window_start == "2026-01-11T00:00:00+00:00" and trig.poke_interval == 60
    deadline = dt.datetime.fromisoformat(trig.deadline) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < deadline <= dt.timedelta(minutes=30)

    trig.poke_interval, trig.deadline = (
        0.05,
        (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.2)).isoformat(),
    )
    event = run_trigger(trig)
    with pytest.raises(
        Exception, match=r"1 partition\(s\) of \[2026-01-11T00:00:00\+00:00, .*still missing"
    ) as info:
        sensor.execute_complete(context(11), event)
    assert type(info.value).__name__ == "AirflowSensorTimeout"
    assert "2026-01-11: " + str(churn_data / "churn/dt=2026-01-11/part.parquet") in str(info.value)
    assert "data.wait.timeout_minutes = 30" in str(info.value)


def test_sensor_complete_paths(example_config):
    sensor = DataArrivalSensor(model_config=example_config)
    arrival = {"source": "s", "window_start": "a", "window_end": "b", "found": ["p"], "missing": []}
    assert sensor.execute_complete({}, {"status": "arrived", "arrival": arrival}) == arrival
    with pytest.raises(PermanentError, match=r"data.source: data.source.path: folder"):
        sensor.execute_complete(
            {}, {"status": "error", "message": "data.source.path: folder 'x' does not exist"}
        )
    with pytest.raises(Exception, match=r"could not check the data for 360 min: S3 down"):
        sensor.execute_complete({}, {"status": "timeout", "arrival": None, "error": "S3 down"})


def test_labels_sensor_goes_on_without_labels(example_config):
    raw = config(example_config, labels_timeout_minutes=10).model_dump(mode="json")
    raw["data"]["labels"] = {"kind": "local", "path": "{data_root}/labels/dt={ds}/part.parquet"}
    sensor = DataArrivalSensor(model_config=ModelConfig.model_validate(raw), what="labels")
    assert sensor.task_id == "wait_for_labels" and sensor.timeout == 600
    missing = {
        "source": "l",
        "window_start": "a",
        "window_end": "b",
        "found": [],
        "missing": ["2026-01-03: x"],
    }
    assert sensor.execute_complete({}, {"status": "timeout", "arrival": missing, "error": None}) == missing


def test_sensor_missing_root_fails_at_once(example_config, driftline_home: Path):
    raw = example_config.model_dump(mode="json")
    raw["data"]["source"]["path"] = "{data_root}/typo/dt={ds}/part.parquet"
    with pytest.raises(PermanentError, match=r"data.source.path: folder '.*typo' does not exist"):
        DataArrivalSensor(model_config=ModelConfig.model_validate(raw)).execute(context(3))


def test_poke_mode_times_out_naming_the_missing_partitions(example_config, churn_data: Path):
    sensor = DataArrivalSensor(model_config=config(example_config, mode="poke"), timeout=0, poke_interval=0)
    with pytest.raises(Exception, match=r"still missing.*2026-01-15: .*dt=2026-01-15/part.parquet") as info:
        sensor.execute(context(15))
    assert type(info.value).__name__ == "AirflowSensorTimeout"
    assert DataArrivalSensor(model_config=config(example_config, mode="poke")).execute(context(2))["arrived"]


def test_freshness_query_only_for_sql_sources(example_config):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"wait.freshness_query applies to a sql source only"):
        config(example_config, freshness_query="SELECT 1")


def test_dag_wiring_of_the_sensors(example_config, example_config_path: Path):
    from driftline.factory.dags import build_pipeline_dag

    raw = config(example_config, labels_timeout_minutes=30).model_dump(mode="json")
    raw["data"]["labels"] = {"kind": "local", "path": "{data_root}/labels/dt={ds}/part.parquet"}
    dag = build_pipeline_dag(ModelConfig.model_validate(raw), example_config_path)
    assert dag.get_task("wait_for_data").downstream_task_ids == {"load_current"}
    assert dag.get_task("wait_for_labels").downstream_task_ids == {"load_labels"}
    assert dag.get_task("wait_for_labels").timeout == 1800

    raw["data"]["wait"] = {"enabled": False}
    raw["data"]["labels"] = None
    dag = build_pipeline_dag(ModelConfig.model_validate(raw), example_config_path)
    assert not {"wait_for_data", "wait_for_labels"} & set(dag.task_ids)


def test_sensor_fails_permanent_errors_at_once_and_records_an_alert(example_config):
    from driftline.alerting.callbacks import AlertRecordNotifier

    sensor = DataArrivalSensor(model_config=example_config)
    rule = sensor.retry_policy.rules[0]
    assert rule.exception is PermanentError and rule.action.name == "FAIL"
    assert any(isinstance(cb, AlertRecordNotifier) for cb in sensor.on_failure_callback)
