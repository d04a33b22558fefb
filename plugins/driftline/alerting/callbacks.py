"""Airflow notifiers for Driftline: alerts go through Airflow's callbacks, not a handler list.

`AlertRecordNotifier` is every Driftline task's default `on_failure_callback`: when a task fails
for good (after its retries, or at once for a PermanentError) it writes the alert record
(`driftline.alerting.record.emit_alert`: the log line and `alerts.jsonl`). A step that already recorded a
more specific alert for the error (the validation gate's `validation_failed`) marks the exception
`alert_recorded = True`, and the notifier does not write a second one. Further notifiers (Slack,
SMTP, webhook) are chosen per model by the config's `alerts` rules (driftline.alerting.dispatch).
The old path `driftline.notifiers.AlertRecordNotifier` still names this class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseNotifier

from driftline.alerting.event import AlertEvent, Severity
from driftline.alerting.record import emit_alert


class AlertRecordNotifier(BaseNotifier):
    """Write a Driftline alert record for a failed task.

    :param kind: the alert's kind (default `task_failed`).
    :param severity: the alert's severity (default `error`).
    :param message: the message (templated); default: the task's exception.
    """

    template_fields: Sequence[str] = ("message",)

    def __init__(self, *, kind: str = "task_failed", severity: Severity = "error", message: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.severity: Severity = severity
        self.message = message

    def notify(self, context: Any) -> None:
        exception = context.get("exception")
        if getattr(exception, "alert_recorded", False):
            return
        ti = context.get("ti") or context.get("task_instance")
        task = context.get("task")
        config = getattr(task, "model_config", None)
        model = config.model.name if config is not None else str(getattr(ti, "dag_id", "?"))
        run = {
            "dag_id": getattr(ti, "dag_id", None),
            "run_id": getattr(ti, "run_id", None) or context.get("run_id"),
            "task_id": getattr(ti, "task_id", None),
            "try": getattr(ti, "try_number", None),
        }
        message = self.message or f"{run['task_id']} failed: {exception!r}"
        details = {"exception": type(exception).__name__} if exception is not None else {}
        emit_alert(
            AlertEvent(
                model=model, kind=self.kind, severity=self.severity, message=message, details=details, run=run
            ),
            alerts=config.alerts if config is not None else None,
            context=context,
        )
