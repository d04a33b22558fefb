"""The alert record, and the Airflow notifier that writes it when a Driftline task fails."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from driftline.alerting import AlertEvent, alerts_file, emit_alert
from driftline.exceptions import SnapshotError, ValidationFailedError


def test_emit_alert_logs_and_persists(driftline_home, caplog):
    with caplog.at_level(logging.ERROR, logger="driftline.alerting.record"):
        emit_alert(
            AlertEvent(
                model="churn",
                kind="validation_failed",
                severity="error",
                message="3 checks failed",
                details={"quarantine": "/q"},
                run={"run_id": "r1"},
            )
        )
    assert alerts_file() == driftline_home / "alerts" / "alerts.jsonl"
    (line,) = alerts_file().read_text().splitlines()
    record = json.loads(line)
    assert (
        record["model"] == "churn"
        and record["details"] == {"quarantine": "/q"}
        and record["run"]["run_id"] == "r1"
    )
    assert "ALERT [error] churn validation_failed: 3 checks failed" in caplog.text


def _context(exception: BaseException, example_config) -> dict:
    ti = SimpleNamespace(dag_id="driftline__churn", run_id="manual__1", task_id="load_current", try_number=3)
    task = SimpleNamespace(model_config=example_config, task_id="load_current")
    return {"ti": ti, "task_instance": ti, "task": task, "run_id": "manual__1", "exception": exception}


def test_the_failure_notifier_writes_one_record_per_failure(driftline_home, example_config):
    from airflow.sdk import BaseNotifier
    from driftline.alerting.callbacks import AlertRecordNotifier

    notifier = AlertRecordNotifier()
    assert isinstance(notifier, BaseNotifier)
    notifier(_context(SnapshotError("snapshot x does not exist"), example_config))  # as Airflow calls it
    already = ValidationFailedError("quarantined")
    already.alert_recorded = True  # the gate wrote its own validation_failed record
    notifier(_context(already, example_config))
    (line,) = alerts_file().read_text().splitlines()
    record = json.loads(line)
    assert (record["model"], record["kind"], record["details"]) == (
        "churn",
        "task_failed",
        {"exception": "SnapshotError"},
    )
    assert record["run"] == {
        "dag_id": "driftline__churn",
        "run_id": "manual__1",
        "task_id": "load_current",
        "try": 3,
    }
    assert "snapshot x does not exist" in record["message"]


def test_driftline_tasks_carry_the_notifier(example_config):
    from driftline.alerting.callbacks import AlertRecordNotifier
    from driftline.operators.cost import RecordTaskCost
    from driftline.operators.summary import RunSummaryOperator

    op = RunSummaryOperator(task_id="publish_summary", model_config=example_config)
    # the alert record, and the failed try's cost in the ledger
    assert [type(cb) for cb in op.on_failure_callback] == [AlertRecordNotifier, RecordTaskCost]
