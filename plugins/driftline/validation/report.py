"""The gate's result: JSON-serialisable, with each failure's expectation, column and evidence."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

EXAMPLES = 5


def json_safe(value: Any) -> Any:
    """numpy scalars, NaN, timestamps and nested containers as plain JSON values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return json_safe(item())
        except (ValueError, TypeError):
            pass
    if getattr(value, "isoformat", None):
        try:
            return value.isoformat()
        except (ValueError, TypeError):  # NaT
            return None
    return str(value)


@dataclass
class Finding:
    """One expectation that did not pass (a failure, or a warning when its severity is warn)."""

    expectation: str
    column: str | None
    severity: str
    source: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        """One line: expectation, column, evidence."""
        parts = [self.expectation]
        if self.column:
            parts.append(f"column {self.column!r}")
        if self.error:
            parts.append(f"error: {self.error}")
        if self.observed_value is not None:
            parts.append(f"observed {self.observed_value!r}")
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} unexpected of {self.element_count}{pct}")
        if self.examples:
            parts.append(f"e.g. {self.examples}")
        parts.append(f"[{self.source}]")
        return ", ".join(parts)


@dataclass
class ValidationReport:
    """What the gate found: `success` is False when any fail-severity expectation did not pass."""

    success: bool
    statistics: dict[str, Any]
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        safe: dict[str, Any] = json_safe(asdict(self))
        return safe

    def summary(self) -> dict[str, Any]:
        """The small version carried in a snapshot's facts and XCom."""
        return {
            "success": self.success,
            **{k: self.statistics.get(k) for k in ("evaluated", "passed", "failed", "warned", "rows")},
            "failures": [f.describe() for f in self.failures[:10]],
            "warnings": [w.describe() for w in self.warnings[:10]],
        }

    def failure_lines(self) -> list[str]:
        return [f.describe() for f in self.failures]
