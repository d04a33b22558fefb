"""The alert record: every Driftline alert is logged and kept as one JSON line.

`emit_alert(event)` logs the alert at ERROR and appends it to `DRIFTLINE_HOME/alerts/alerts.jsonl`.
Dispatching alerts elsewhere (Slack, e-mail, PagerDuty) is Airflow's job, not a handler list:
Driftline tasks carry `driftline.notifiers.AlertRecordNotifier` as their `on_failure_callback`
(a `BaseNotifier`, so it runs in the task process and is declared with the DAG), and any other
Airflow notifier can be added beside it. This module imports no Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from driftline.settings import driftline_home

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error", "critical"]

_file_lock = threading.Lock()


@dataclass
class AlertEvent:
    """One alert: what happened to which model, in which run."""

    model: str
    kind: str
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def alerts_file() -> Path:
    """The JSON-lines alert log under DRIFTLINE_HOME."""
    return driftline_home() / "alerts" / "alerts.jsonl"


def emit_alert(event: AlertEvent) -> None:
    """Log and persist one alert; a file that cannot be written is logged, never raised."""
    log.error("ALERT [%s] %s %s: %s", event.severity, event.model, event.kind, event.message)
    line = json.dumps(event.to_dict(), default=str, sort_keys=True)
    path = alerts_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:
        log.exception("could not append the alert to %s", path)
