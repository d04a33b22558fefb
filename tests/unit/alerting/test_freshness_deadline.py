"""`alerts.freshness` becomes a Deadline Alert on the pipeline DAG whose callback sends the alert."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from driftline.config.models import AlertsSection

ALERTS = {
    "channels": {"pager": {"type": "webhook", "conn_id": "hook_test", "endpoint": "/fresh"}},
    "freshness": {"predictions_by": "06:00", "notify": ["pager"]},
}


def _config(example_config):
    return example_config.model_copy(update={"alerts": AlertsSection.model_validate(ALERTS)})


def test_the_pipeline_dag_carries_the_deadline(example_config, example_config_path):
    from airflow.sdk.definitions.deadline import DeadlineReference
    from airflow.serialization.serialized_objects import DagSerialization
    from driftline.factory.dags import build_pipeline_dag

    dag = build_pipeline_dag(_config(example_config), example_config_path)
    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == dt.timedelta(days=1, hours=6)
    assert alert.callback.path == "driftline.alerting.deadline.freshness_missed"
    assert alert.callback.kwargs["model"] == "churn"
    # the DAG (with the callback's kwargs) survives Airflow's serialization
    again = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert again.deadline is not None
    assert build_pipeline_dag(example_config, example_config_path).deadline is None


def test_freshness_needs_a_daily_schedule(example_config):
    from pydantic import ValidationError

    data = _config(example_config).model_dump(mode="json")
    data["schedule"]["cron"] = "0 0 * * MON-FRI"  # midnight, but a Friday's interval ends on Monday
    with pytest.raises(ValidationError, match="needs a daily schedule"):
        type(example_config).model_validate(data)


def test_a_missed_deadline_sends_the_alert(driftline_home, http_receiver, example_config):
    from airflow.sdk.definitions.deadline import DeadlineAlert
    from driftline.alerting.deadline import freshness_deadline

    alert = freshness_deadline(_config(example_config))
    assert isinstance(alert, DeadlineAlert)
    from airflow.sdk._shared.module_loading import import_string

    callback = import_string(alert.callback.path)
    # the context Airflow's scheduler hands a deadline callback (models/deadline.py handle_miss)
    context = {
        "dag_run": {
            "dag_id": "driftline__churn",
            "dag_run_id": "scheduled__2026-01-21T00:00:00+00:00",
            "state": "running",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-01-22T06:00:00+00:00"},
    }
    asyncio.run(callback(context=context, **alert.callback.kwargs))
    asyncio.run(callback(context=context, **alert.callback.kwargs))  # sent once per run
    (request,) = http_receiver.requests
    body = request["body"]
    assert (request["path"], body["kind"], body["rule"]) == ("/fresh", "freshness_missed", "freshness")
    assert "predictions_by 06:00 UTC" in body["message"] and body["details"]["state"] == "running"
    assert body["link"].endswith("/dags/driftline__churn/runs/scheduled__2026-01-21T00%3A00%3A00%2B00%3A00")
