"""A tiny real DAG with just the two operators, run with dag.test(): XCom wiring end to end."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DAG_ID = "driftline_test__load_validate"

DAG_FILE = textwrap.dedent(
    '''
    """Test DAG: load_current -> validate_current for the example config (airflow dag)."""
    from __future__ import annotations

    import datetime as dt

    from airflow.sdk import DAG

    from driftline.config import load_config
    from driftline.operators.load import LoadWindowOperator
    from driftline.operators.validate import ValidateSnapshotOperator

    config = load_config("{config}")

    with DAG("{dag_id}", schedule="@daily", start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), catchup=False) as dag:
        load = LoadWindowOperator(model_config=config, window="current")
        ValidateSnapshotOperator(model_config=config, snapshot=load.output, window="current")
    '''
)


@pytest.fixture(scope="module")
def airflow_db():
    """The Airflow metadata DB (SQLite under the session's AIRFLOW_HOME), created once."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture
def test_dag(tmp_path, monkeypatch, airflow_db, example_config_path):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "load_validate_dag.py").write_text(DAG_FILE.format(config=example_config_path, dag_id=DAG_ID))
    bundle = [
        {
            "name": "driftline-load-validate-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("load_validate_dag", folder / "load_validate_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.dag
    sys.modules.pop("load_validate_dag", None)


@pytest.mark.slow
def test_dag_test_wires_the_snapshot_through_xcom(test_dag, driftline_home, churn_generator):
    churn_generator.generate(
        driftline_home / "data", dt.date(2026, 1, 1), 20, rows=300, corrupt_day=dt.date(2026, 1, 17)
    )

    # a manual run at logical date D covers [D - 1 day, D)
    good = test_dag.test(logical_date=dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in good.get_task_instances()}
    assert states == {"load_current": "success", "validate_current": "success"}, states
    validated = next(ti for ti in good.get_task_instances() if ti.task_id == "validate_current")
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=good.run_id, dag_ids=DAG_ID, task_ids="validate_current", key="return_value"
            )
        ).first()
        ref = XComModel.deserialize_value(row)
    assert ref["status"] == "validated" and ref["facts"]["window_start"] == "2026-01-05T00:00:00+00:00"
    assert ref["facts"]["validation"]["success"] is True and validated.state == "success"

    bad = test_dag.test(logical_date=dt.datetime(2026, 1, 18, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in bad.get_task_instances()}
    assert states == {"load_current": "success", "validate_current": "failed"}, states
    quarantine = driftline_home / "snapshots" / "churn" / "quarantine"
    assert list(quarantine.glob("*/current_window.*.validation.json"))
    assert (driftline_home / "alerts" / "alerts.jsonl").read_text().count("validation_failed") == 1
