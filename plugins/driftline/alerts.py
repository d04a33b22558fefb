"""The alert hook point: every Driftline alert goes through `emit_alert`.

An alert is logged at ERROR, appended as one JSON line to `DRIFTLINE_HOME/alerts/alerts.jsonl`,
and handed to every registered handler (`register_alert_handler`): the monitoring layer wires
Airflow notifiers (Slack, SMTP, ...) in here. A handler that raises is logged and skipped; it
never hides the alert from the log, the file or the other handlers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from driftline.settings import driftline_home

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error", "critical"]
AlertHandler = Callable[["AlertEvent"], Any]

handlers: list[AlertHandler] = []
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


def register_alert_handler(fn: AlertHandler) -> AlertHandler:
    """Add a handler called with every AlertEvent (usable as a decorator); registering twice is a no-op."""
    if fn not in handlers:
        handlers.append(fn)
    return fn


def unregister_alert_handler(fn: AlertHandler) -> None:
    if fn in handlers:
        handlers.remove(fn)


def alerts_file() -> Path:
    """The JSON-lines alert log under DRIFTLINE_HOME."""
    return driftline_home() / "alerts" / "alerts.jsonl"


def emit_alert(event: AlertEvent) -> None:
    """Log, persist and dispatch one alert; handler failures are logged, never raised."""
    log.error("ALERT [%s] %s %s: %s", event.severity, event.model, event.kind, event.message)
    line = json.dumps(event.to_dict(), default=str, sort_keys=True)
    path = alerts_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:
        log.exception("could not append the alert to %s", path)
    for handler in list(handlers):
        try:
            handler(event)
        except Exception:
            log.exception("alert handler %r failed for %s/%s", handler, event.model, event.kind)
