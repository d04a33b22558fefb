"""score_and_write in the pipeline DAG, its skip param, and one run through the operator itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from inference_helpers import scan_all


def context(params: dict[str, Any] | None = None) -> dict[str, Any]:
    start = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": params or {},
        "ti": SimpleNamespace(
            dag_id="driftline__churn",
            run_id="scheduled__2026-01-15T00:00:00+00:00",
            task_id="score_and_write",
            try_number=1,
        ),
    }


def test_score_and_write_runs_after_the_gate_join_and_feeds_the_summary(make_config, example_config):
    from driftline.factory.dags import build_pipeline_dag

    dag = build_pipeline_dag(make_config(), Path("churn.yaml"))
    score = dag.get_task("score_and_write")
    assert score.upstream_task_ids == {"validate_current", "champion_settled"}
    assert score.downstream_task_ids == {"publish_summary"}
    assert score.trigger_rule == "all_success"
    settled = dag.get_task("champion_settled")
    assert settled.upstream_task_ids == {"evaluate_gate", "keep_champion"}
    assert settled.trigger_rule == "all_done"
    assert [a.uri for a in score.outlets] == ["x-driftline://churn/predictions"]
    assert score.template_fields == ("snapshot",)
    without = example_config.model_copy(update={"inference": None})
    assert "score_and_write" not in build_pipeline_dag(without, Path("churn.yaml")).task_ids


def test_skip_inference_skips_visibly(make_config):
    from airflow.sdk.exceptions import AirflowSkipException
    from driftline.operators.inference import ScoreAndWriteOperator

    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=make_config(), snapshot={})
    with pytest.raises(AirflowSkipException, match="skipped: the run param skip_inference is true"):
        op.execute(context({"skip_inference": True}))


@pytest.fixture
def champion(churn_model, ddb_endpoint, monkeypatch, driftline_home) -> int:
    """`churn` registered in a SQLite MLflow store with alias champion; both Airflow connections set."""
    import mlflow
    import mlflow.sklearn

    store = f"sqlite:///{driftline_home / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)  # an earlier test may have left the global registry URI elsewhere
    experiment = mlflow.create_experiment(
        "scoring", artifact_location=(driftline_home / "artifacts").as_uri()
    )
    import skops.io as sio

    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(  # skops: the only format loaded without a config opt-in
            churn_model,
            name="model",
            registered_model_name="churn",
            serialization_format="skops",
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(churn_model)),
        )
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("churn", "champion", info.registered_model_version)
    conn = {"conn_type": "aws", "extra": {"endpoint_url": ddb_endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    tracking = {"conn_type": "http", "extra": {"tracking_uri": mlflow.get_tracking_uri()}}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(tracking))
    return int(info.registered_model_version)


@pytest.mark.slow
def test_the_operator_scores_with_the_champion_through_the_aws_connection(
    make_config, validated, ddb, champion
):
    from driftline.operators.inference import ScoreAndWriteOperator

    config = make_config()
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=config, snapshot=validated)
    result = op.execute(context())
    assert result["model_version"] == champion
    assert result["written"] == validated["rows"] == len(scan_all(ddb, config.inference.table))


@pytest.mark.slow
def test_in_snapshot_mode_the_operator_defers_until_the_import_is_done(
    make_config, validated, ddb, ddb_endpoint, champion, table_name
):
    import asyncio

    import boto3
    from airflow.sdk.exceptions import TaskDeferred
    from driftline.inference.snapshot import read_pointer
    from driftline.operators.inference import ScoreAndWriteOperator
    from driftline.triggers.dynamodb_import import DynamoDBImportTrigger

    boto3.client("s3", endpoint_url=ddb_endpoint, region_name="us-east-1").create_bucket(Bucket="op-exports")
    config = make_config(mode="snapshot", export_uri=f"s3://op-exports/{table_name}", import_poll_s=1)
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=config, snapshot=validated)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, DynamoDBImportTrigger) and deferred.value.method_name == "execute_complete"

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    # dag.test() (driftline run) resumes with the event only, without the deferral's kwargs: the
    # run record finishes the same import (was: TypeError, missing argument 'start')
    result = op.execute_complete(context(), event)
    assert op.execute_complete(context(), event, **deferred.value.kwargs)["table"] == result["table"]
    assert result["mode"] == "snapshot" and result["switched"] and result["model_version"] == champion
    assert result["written"] == validated["rows"] == len(scan_all(ddb, result["table"]))
    assert read_pointer(ddb, config.inference)["table"] == result["table"]


def test_a_connection_without_a_region_is_a_config_error_naming_inference_conn_id(
    make_config, validated, monkeypatch
):
    from driftline.exceptions import ConfigError
    from driftline.operators.inference import ScoreAndWriteOperator

    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AIRFLOW_CONN_AWS_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=make_config(), snapshot=validated)
    with pytest.raises(ConfigError) as error:
        op.execute(context())
    assert str(error.value).startswith("inference.conn_id 'aws_default': 1 error(s)")
    assert "connection 'aws_default' is not defined" in str(error.value) and "region_name" in str(error.value)
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_DDB", json.dumps({"conn_type": "aws", "extra": {}}))
    op = ScoreAndWriteOperator(
        task_id="score_and_write", model_config=make_config(conn_id="local_ddb"), snapshot=validated
    )
    with pytest.raises(ConfigError, match=r"(?s)inference.conn_id 'local_ddb'.*names no AWS region"):
        op.execute(context())


@pytest.mark.slow
def test_an_unreachable_endpoint_names_the_connection(make_config, validated, champion, monkeypatch):
    import socket

    from driftline.inference.errors import InferenceError
    from driftline.operators.inference import ScoreAndWriteOperator

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    conn = {
        "conn_type": "aws",
        "extra": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=make_config(), snapshot=validated)
    with pytest.raises(
        InferenceError, match=rf"cannot reach DynamoDB at http://127.0.0.1:{port} .*'aws_default'"
    ):
        op.execute(context())


@pytest.mark.slow
def test_in_snapshot_mode_the_operator_scores_the_running_experiments_arms(
    make_config, example_config, validated, ddb, champion, s3_conn, table_name
):
    """What was "not built yet": snapshot mode while an A/B experiment runs scores both arms and the
    holdout, and the per-arm counts travel through the deferral into the payload."""
    import asyncio
    from collections import Counter

    import mlflow
    from airflow.sdk.exceptions import TaskDeferred
    from driftline.experiments.store import start_experiment
    from driftline.operators.inference import ScoreAndWriteOperator
    from inference_helpers import EXPORT_BUCKET

    client = mlflow.MlflowClient()
    source = client.get_model_version("churn", str(champion)).source  # the same model, a new version
    challenger = int(client.create_model_version("churn", source=source).version)
    experiment = start_experiment(
        client,
        "churn",
        champion_version=champion,
        challenger_version=challenger,
        shares={"champion": 0.5, "challenger": 0.3, "no_model": 0.2},
        salt="churn:op-test",
        op_key="driftline__churn/gate-run",
        no_model_default=0,
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),  # a data time: the scored day lies inside it
    )
    assert example_config.ab_test is not None
    config = make_config(
        mode="snapshot", export_uri=f"s3://{EXPORT_BUCKET}/{table_name}", import_poll_s=1
    ).model_copy(update={"ab_test": example_config.ab_test.model_copy(update={"enabled": True})})
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=config, snapshot=validated)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    kwargs = json.loads(json.dumps(deferred.value.kwargs))  # what the triggerer hands back
    assert kwargs["start"]["experiment_id"] == experiment.id

    async def first_event() -> dict[str, Any]:
        async for event in deferred.value.trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    result = op.execute_complete(context(), asyncio.run(first_event()), **kwargs)
    items = scan_all(ddb, result["table"])
    assert result["experiment_id"] == experiment.id and result["challenger_version"] == challenger
    assert result["arms"] == dict(Counter(i["arm"] for i in items)) and set(result["arms"]) == {
        "champion",
        "challenger",
        "no_model",
    }
    versions = {i["arm"]: i.get("model_version") for i in items}
    assert versions == {"champion": champion, "challenger": challenger, "no_model": None}
    assert sum(result["arms"].values()) == result["written"] == validated["rows"]


@pytest.mark.slow
@pytest.mark.timeout(1500)  # two MLflow model logs: minutes on a busy 2-core machine
def test_a_backfill_is_scored_by_the_champion_of_its_data_time_not_todays(
    make_config, validated, ddb, champion, churn_model, constant_model, driftline_home
):
    """v1 was champion from January's data on, v2 (the constant model) from March's: a February
    backfill run now, with v2 the live champion, is scored by v1 (it was: by v2, today's champion)."""
    import mlflow
    import mlflow.sklearn
    from driftline.mlflow_store import MlflowStore
    from driftline.operators.inference import ScoreAndWriteOperator
    from driftline.registry.promotion import promote

    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("scoring").experiment_id):
        info = mlflow.sklearn.log_model(
            constant_model, name="model", registered_model_name="churn", serialization_format="skops"
        )
    v2 = int(info.registered_model_version)
    store = MlflowStore(mlflow.get_tracking_uri())
    mlflow.MlflowClient().delete_registered_model_alias("churn", "champion")
    jan, mar = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    promote(store, "churn", champion, None, "first", "test", details={"data_time": jan.isoformat()})
    promote(store, "churn", v2, champion, "better", "test", details={"data_time": mar.isoformat()})
    assert int(mlflow.MlflowClient().get_registered_model("churn").aliases["champion"]) == v2

    def day(start: dt.datetime, run_id: str) -> dict[str, Any]:
        ctx = context()
        ctx["data_interval_start"], ctx["data_interval_end"] = start, start + dt.timedelta(days=1)
        ctx["ti"].run_id = run_id
        return ctx

    config = make_config()
    op = ScoreAndWriteOperator(task_id="score_and_write", model_config=config, snapshot=validated)
    feb = op.execute(day(dt.datetime(2026, 2, 10, tzinfo=dt.UTC), "backfill__2026-02-10"))
    assert feb["model_version"] == champion  # was: v2, today's champion
    # the run whose gate promoted v2 (data up to March 1st) scores with v2, and so does every later day
    assert op.execute(day(mar - dt.timedelta(days=1), "scheduled__2026-02-28"))["model_version"] == v2
    assert (
        op.execute(day(dt.datetime(2026, 3, 5, tzinfo=dt.UTC), "scheduled__2026-03-05"))["model_version"]
        == v2
    )
    # data older than the first promotion: scored by the first champion (it was: skipped, so a
    # backfill before any model existed left its entities with no prediction at all)
    before = op.execute(day(dt.datetime(2025, 12, 10, tzinfo=dt.UTC), "backfill__2025-12-10"))
    assert before["model_version"] == champion
