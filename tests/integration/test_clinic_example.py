"""The second example (include/examples/clinic): a regression model on a cp1252 CSV export, run as a user would."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "examples" / "clinic"

DAG_FILE = textwrap.dedent(
    '''
    """The loader of dags/driftline_dags.py on a folder holding the clinic example (airflow dag)."""
    from __future__ import annotations

    from pathlib import Path

    from driftline.factory import build_all

    DAGS = build_all(Path("{configs}"))
    '''
)


def _generator():
    spec = importlib.util.spec_from_file_location("generate_clinic_data", EXAMPLE / "generate_clinic_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_config_validates_and_builds_its_dags(tmp_path: Path):
    from driftline.config import load_config
    from driftline.factory import build_all

    config = load_config(EXAMPLE / "clinic.yaml")
    assert config.training.task == "regression" and config.data.source.encoding == "cp1252"
    assert config.inference is not None and config.inference.layout == "history"
    shutil.copy(EXAMPLE / "clinic.yaml", tmp_path / "clinic.yaml")
    assert sorted(d.dag_id for d in build_all(tmp_path)) == [
        "driftline__clinic",
        "driftline__clinic__rollback",
    ]


@pytest.fixture
def clinic_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driftline_home: Path):
    from airflow.utils.db import initdb

    initdb()
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(EXAMPLE / "clinic.yaml", configs / "clinic.yaml")
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "clinic_dags.py").write_text(DAG_FILE.format(configs=configs))
    bundle = [
        {
            "name": "driftline-clinic-example",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("clinic_dags", folder / "clinic_dags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield next(d for d in module.DAGS if d.dag_id == "driftline__clinic")
    sys.modules.pop("clinic_dags", None)


@pytest.mark.slow
def test_one_day_of_the_example_trains_a_regression_and_writes_history_items(
    clinic_dag, driftline_home: Path, monkeypatch: pytest.MonkeyPatch
):
    import boto3
    from moto.server import ThreadedMotoServer

    _generator().generate(driftline_home / "data", dt.date(2026, 3, 1), 5, rows=150)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        conn = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
        run = clinic_dag.test(logical_date=dt.datetime(2026, 3, 6, tzinfo=dt.UTC))  # data day 2026-03-05
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        states = {task: ti.state for task, ti in tis.items()}
        assert run.state == "success", states
        loaded = tis["load_current"].xcom_pull(task_ids="load_current")
        assert loaded["rows"] == 150  # every row, naive and offset timestamps alike, is in its UTC day
        gate = tis["evaluate_gate"].xcom_pull(task_ids="evaluate_gate")
        assert gate["decision"] == "promoted", gate
        written = tis["score_and_write"].xcom_pull(task_ids="score_and_write")
        table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(
            "driftline-clinic-predictions"
        )
        items = [i for i in table.scan()["Items"] if not str(i["patient_id"]).startswith("__driftline")]
    finally:
        server.stop()
    assert written["written"] == len(items) == 150
    assert {i["scored_for"] for i in items} == {"2026-03-06"}
    assert all(str(i["patient_id"]).isdigit() for i in items)  # integer ids, no trailing ".0"
    assert all(float(i["prediction"]) > 0 for i in items)  # a regression: one number per patient
