"""A small recorded history for the Driftline page, written the way the pipelines write it.

`write_history(home)` fills `home/demo/` (the layout `make demo` leaves, read by
`driftline.ui.sources.demo_source`): a SQLite MLflow store with the registered model `churn`
(v1 champion, v2 challenger, tagged as `registry.registration` tags them) and four retrain
decisions in `driftline/churn/monitoring` (the metrics and tags `RetrainDecisionOperator` logs,
one with an HTML drift report), an Airflow SQLite database with the pipeline's `dag_run` rows,
and an alert log.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

DAY0 = dt.datetime(2026, 1, 16, tzinfo=dt.UTC)
DAG_ID = "driftline__churn"
REPORT_MARK = "<h1>Evidently drift report (test)</h1>"


def _run_id(i: int) -> str:
    return f"scheduled__{(DAY0 + dt.timedelta(days=i)).isoformat()}"


def _mlflow(home: Path) -> dict[str, Any]:
    from driftline.operators.drift_records import TAG_DECIDED_FOR, TAG_DECISION, monitoring_experiment
    from driftline.registry import champion as c
    from mlflow.tracking import MlflowClient

    store = home / "mlflow"
    store.mkdir(parents=True)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    train = client.create_experiment(
        "driftline/churn", artifact_location=(store / "artifacts" / "t").as_uri()
    )
    client.create_registered_model("churn")
    versions = {}
    for version, auc in ((1, 0.72), (2, 0.74)):
        run = client.create_run(train, run_name=f"train v{version}")
        client.log_metric(run.info.run_id, "roc_auc", auc)
        client.set_terminated(run.info.run_id)
        mv = client.create_model_version(
            "churn", source=(store / f"m{version}").as_uri(), run_id=run.info.run_id
        )
        for key, value in {
            c.TAG_TRAINING_RUN_ID: run.info.run_id,
            c.TAG_METRIC_NAME: "roc_auc",
            c.metric_tag("roc_auc"): str(auc),
            c.TAG_TRAINED_UNTIL: (DAY0 + dt.timedelta(days=version)).isoformat(),
        }.items():
            client.set_model_version_tag("churn", mv.version, key, value)
        versions[version] = run.info.run_id
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")
    monitoring = client.create_experiment(
        monitoring_experiment("churn"), artifact_location=(store / "artifacts" / "m").as_uri()
    )
    points = []
    for i, (share, live, decision) in enumerate(
        [(0.0, 0.72, "keep"), (0.17, 0.71, "keep"), (0.5, 0.69, "retrain"), (0.5, 0.66, "retrain")]
    ):
        run = client.create_run(
            monitoring,
            tags={
                TAG_DECISION: decision,
                TAG_DECIDED_FOR: (DAY0 + dt.timedelta(days=i + 1)).isoformat(),
                "airflow.run_id": _run_id(i),
                "driftline.model": "churn",
            },
        )
        rid = run.info.run_id
        metrics = {"data_drift_share": share, "drifted_columns": share * 6, "live.roc_auc": live}
        for col, base in (("usage_minutes", 0.02), ("plan", 0.01)):
            metrics[f"drift_score.{col}"] = base + share * 3
            metrics[f"drifted.{col}"] = float(share >= 0.5)
        for key, value in metrics.items():
            client.log_metric(rid, key, value)
        if i == 2:
            report = home / "report.html"
            report.write_text(f"<html><body>{REPORT_MARK}</body></html>")
            client.log_artifact(rid, str(report), "drift")
        client.set_terminated(rid)
        points.append(rid)
    from driftline.mlflow_store import MlflowStore
    from driftline.monitoring.record import record_run_metrics

    store_access = MlflowStore(uri)
    for i in range(4):  # publish_summary's per-run record (driftline.monitoring)
        record_run_metrics(
            "churn",
            _run_id(i),
            {"rows_loaded": 2000.0, "predictions_written": 1900.0 + i, "validation_pass_rate": 1.0 - i / 10},
            store=store_access,
            tags={"airflow.dag_id": DAG_ID},
        )
    return {
        "uri": uri,
        "train_runs": versions,
        "monitoring_runs": points,
        "monitoring_experiment": monitoring,
    }


def _ledger(home: Path) -> dict[str, float]:
    """Cost entries as the task callbacks write them: two this month, one in an earlier month."""
    from driftline.cost.ledger import Ledger, TaskKey
    from driftline.cost.pricing import Entry

    (home / "cost").mkdir()
    ledger = Ledger(f"sqlite:///{home / 'cost' / 'ledger.db'}")
    now = dt.datetime.now(dt.UTC)
    earlier = now.replace(day=1) - dt.timedelta(days=40)
    for task, ended, amount in (("train", now, 1.25), ("score_and_write", now, 0.5), ("train", earlier, 9.0)):
        ledger.record(
            TaskKey(model="churn", dag_id=DAG_ID, run_id=f"run-{task}-{ended:%m}", task_id=task),
            [Entry(kind="cpu", quantity=1.0, unit="core_hour", amount=amount)],
            started=ended - dt.timedelta(minutes=5),
            ended=ended,
        )
    ledger.engine.dispose()
    return {"month_total": 1.75}


def _airflow(home: Path) -> None:
    from airflow.models.dagrun import DagRun
    from sqlalchemy import create_engine, insert

    db = home / "airflow" / "airflow.db"
    db.parent.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{db}")
    DagRun.__table__.create(engine)
    rows = []
    for i, state in enumerate(["success", "success", "failed", "success", "failed"]):
        day = DAY0 + dt.timedelta(days=i + 1)
        rows.append(
            {
                "dag_id": DAG_ID,
                "run_id": _run_id(i),
                "state": state,
                "run_type": "scheduled",
                "logical_date": day,
                "run_after": day,
                "start_date": day + dt.timedelta(minutes=1),
                "end_date": day + dt.timedelta(minutes=9),
                "clear_number": 0,
                "log_template_id": None,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(DagRun.__table__), rows)
    engine.dispose()


def _alerts(home: Path) -> None:
    path = home / "alerts" / "alerts.jsonl"
    path.parent.mkdir(parents=True)
    events = [
        ("validation_failed", _run_id(2), "the <b>current</b> window failed validation"),
        ("drift", _run_id(3), "data drift: 3/6 columns drifted"),
        ("task_failed", _run_id(4), "train failed"),
        ("drift", _run_id(3), "another model's alert"),
    ]
    with path.open("w") as out:
        for i, (kind, run_id, message) in enumerate(events):
            out.write(
                json.dumps(
                    {
                        "model": "churn" if i < 3 else "other",
                        "kind": kind,
                        "severity": "error",
                        "message": message,
                        "details": {},
                        "run": {"dag_id": DAG_ID, "run_id": run_id},
                        "created_at": (DAY0 + dt.timedelta(days=i + 1, minutes=5)).isoformat(),
                    }
                )
                + "\n"
            )


def write_history(home: Path) -> dict[str, Any]:
    demo = home / "demo"
    facts = _mlflow(demo)
    facts["cost"] = _ledger(demo)
    _airflow(demo)
    _alerts(demo)
    return facts


@pytest.fixture(scope="session")
def ui_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    home = tmp_path_factory.mktemp("ui-home")
    return home, write_history(home)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's Airflow metadata DB (token revocation and DAG teams live there), created once."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(scope="session")
def hostile_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.unit.ui.helpers import build_hostile_world

    return build_hostile_world(tmp_path_factory.mktemp("hostile"))
