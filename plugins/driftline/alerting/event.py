"""What one alert is: `AlertEvent` (plain data, no Airflow, no I/O) and its `Severity`."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error", "critical"]


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
