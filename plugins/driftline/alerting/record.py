"""The alert record: every Driftline alert is logged and kept as one JSON line.

`emit_alert(event)` (also `driftline.alerting.emit_alert`) logs the alert at ERROR, appends it to `DRIFTLINE_HOME/alerts/alerts.jsonl`,
then sends it through Airflow notifiers as the model's `alerts` rules say
(`driftline.alerting.dispatch`: SMTP, Slack, webhook; once per run, rule and channel). Failed
tasks reach it through `driftline.alerting.callbacks.AlertRecordNotifier`, every Driftline task's
`on_failure_callback`. This module imports no Airflow at import time; where Airflow is not
installed (the training pod) the alert is recorded only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

from driftline.alerting.event import AlertEvent
from driftline.settings import driftline_home

log = logging.getLogger(__name__)

_file_lock = threading.Lock()


def alerts_file() -> Path:
    """The JSON-lines alert log under DRIFTLINE_HOME."""
    return driftline_home() / "alerts" / "alerts.jsonl"


def emit_alert(event: AlertEvent, alerts: Any = None, context: Any = None) -> None:
    """Log and persist one alert, then deliver it by the model's alert rules.

    `alerts` (a config `AlertsSection`) and `context` are for callers outside a running task
    (a deadline callback); inside a task the running task's model config gives the rules.
    A file that cannot be written and a channel that fails are logged, never raised.
    """
    log.error("ALERT [%s] %s %s: %s", event.severity, event.model, event.kind, event.message)
    _append(event.to_dict())
    _deliver(event, alerts, context)


def _append(record: dict[str, Any]) -> None:
    line = json.dumps(record, default=str, sort_keys=True)
    path = alerts_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:
        log.exception("could not append the alert to %s", path)


def _deliver(event: AlertEvent, alerts: Any, context: Any) -> None:
    try:
        from driftline.alerting.dispatch import deliver
    except ModuleNotFoundError as exc:  # no Airflow here (the training pod): nothing to send with
        log.info("alert recorded only: %s", exc)
        return
    for failed in [d for d in deliver(event, alerts, context) if d.status == "failed"]:
        _append(
            {
                "delivery_failed": True,
                "model": event.model,
                "kind": event.kind,
                "rule": failed.rule,
                "channel": failed.channel,
                "error": failed.error,
                "run": event.run,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
