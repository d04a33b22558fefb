"""The churn example with compute.engine: spark, run under Airflow with dag.test(): load, validate,
drift and score each a Spark application (local[2]) submitted through the Spark provider's
SparkSubmitHook (drift on aggregates: exact_below_rows 0), the calibrated decision; the duckdb
engine then takes the same validation and drift decisions on the same snapshots."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

DAG_FILE = textwrap.dedent(
    '''
    """The loader of dags/driftline_dags.py on a folder holding churn on spark (airflow dag)."""
    from __future__ import annotations

    from pathlib import Path

    from driftline.factory import build_all

    DAGS = build_all(Path("{configs}"))
    '''
)


@pytest.fixture
def churn_spark_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driftline_home: Path):
    from airflow.utils.db import initdb

    initdb()
    configs = tmp_path / "configs"
    configs.mkdir()
    config = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    config["compute"] = {
        "engine": "spark",
        "exact_below_rows": 0,
        "spark": {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "4"}},
    }
    (configs / "churn.yaml").write_text(yaml.safe_dump(config))
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "churn_spark_dags.py").write_text(DAG_FILE.format(configs=configs))
    bundle = [
        {
            "name": "driftline-churn-spark",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("churn_spark_dags", folder / "churn_spark_dags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield next(d for d in module.DAGS if d.dag_id == "driftline__churn"), configs / "churn.yaml"
    sys.modules.pop("churn_spark_dags", None)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two model-days through spark-submit: 479 s in a parallel CI run, more under load
def test_two_days_of_churn_on_spark_through_spark_submit_with_duckdb_decisions(
    churn_spark_dag, driftline_home: Path, churn_generator, monkeypatch: pytest.MonkeyPatch
):
    import pyspark  # noqa: F401  (installed by make install: missing fails, never skips)

    churn_spark_dag, churn_spark_config = churn_spark_dag
    import boto3
    from driftline.data.snapshots import read_manifest
    from moto.server import ThreadedMotoServer

    churn_generator.generate(driftline_home / "data", dt.date(2026, 1, 1), 16, rows=400)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        conn = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        first = churn_spark_dag.test(logical_date=dt.datetime(2026, 1, 15, tzinfo=dt.UTC))
        assert first.state == "success", {ti.task_id: ti.state for ti in first.get_task_instances()}
        second = churn_spark_dag.test(logical_date=dt.datetime(2026, 1, 16, tzinfo=dt.UTC))
        tis = {ti.task_id: ti for ti in second.get_task_instances()}
        assert second.state == "success", {task: ti.state for task, ti in tis.items()}
        loaded = tis["load_current"].xcom_pull(task_ids="load_current")
        validated = tis["validate_current"].xcom_pull(task_ids="validate_current")
        drift = tis["check_drift"].xcom_pull(task_ids="check_drift")
        written = tis["score_and_write"].xcom_pull(task_ids="score_and_write")
        table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(
            "driftline-churn-predictions"
        )
        key = table.key_schema[0]["AttributeName"]
        items = [i for i in table.scan()["Items"] if not str(i[key]).startswith("__driftline")]
    finally:
        server.stop()
    assert read_manifest(loaded["uri"]).facts["engine"] == "spark"  # load on the engine
    assert validated["rows"] == loaded["rows"]
    data = drift["data_drift"]
    assert data["evaluated"] is True
    assert data["engine"].startswith("spark aggregates") and "Holm" in data["engine"]  # drift on the engine
    assert {c["decision"] for c in data["columns"].values()} == {"calibrated"}
    assert data["sampled_rows"]["current"] == loaded["rows"]  # below drift.sample_size: every row
    assert drift["current_window"]["engine"] == "spark"
    day_two = [i for i in items if str(i["data_time"]).startswith("2026-01-16")]  # layout latest: day 2 wins
    assert written["written"] == len(day_two) > 0

    # the duckdb engine on the same snapshots: the same validation and drift decisions
    from driftline.config import load_config
    from driftline.config.models import ComputeSection
    from driftline.data.snapshots import read_snapshot, snapshot_uri, verify_snapshot_file, write_snapshot
    from driftline.drift.data_drift import settings_from_config
    from driftline.engines.duckdb import DuckDBEngine

    config = load_config(churn_spark_config)
    duck = DuckDBEngine(ComputeSection(engine="duckdb", exact_below_rows=0))
    # the loaded snapshot is marked validated by now: the same rows as a raw snapshot for duckdb
    raw = write_snapshot(
        read_snapshot(loaded["uri"], require=None), snapshot_uri(None, "churn", "duck", "copy")
    )
    on_duck = duck.validate(raw, config).summary()
    on_spark = validated["facts"]["validation"]
    assert {k: on_duck[k] for k in ("success", "evaluated", "passed", "warned", "rows")} == {
        k: on_spark[k] for k in ("success", "evaluated", "passed", "warned", "rows")
    }
    reference = verify_snapshot_file(drift["reference_uri"], require=None)
    current = verify_snapshot_file(drift["current_uri"], require=None)
    duck_drift = duck.data_drift(reference, current, settings_from_config(config)).to_dict()
    assert {c: (v["method"], v["drifted"]) for c, v in duck_drift["columns"].items()} == {
        c: (v["method"], v["drifted"]) for c, v in data["columns"].items()
    }
    assert duck_drift["dataset_drift"] == data["dataset_drift"]
