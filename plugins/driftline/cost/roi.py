"""ROI of a model against its `no_model` holdout, from per-arm KPI summaries (n, mean, variance).

uplift = mean KPI of the model arms (champion and challenger pooled) - mean KPI of `no_model`,
with a Welch normal interval: se = sqrt(var_model / n_model + var_holdout / n_holdout).
value = uplift x events x value_per_event; ROI = (value - cost) / cost. The cost is the ledger's
(known), so the ROI interval is the uplift interval mapped through that linear function.
Without a `no_model` arm (or with fewer than two events in an arm) ROI is not measurable and the
result says so: it is never invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

HOLDOUT = "no_model"
MODEL_ARMS = ("champion", "challenger")


@dataclass(frozen=True)
class ArmSummary:
    """One arm's KPI summary: events, mean KPI per event, (sample) variance of the KPI."""

    n: int
    mean: float
    var: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmSummary:
        """From the experiment store's {"n", "kpi_mean", "kpi_var"} (or {"n", "mean", "var"})."""
        mean = data["kpi_mean"] if "kpi_mean" in data else data["mean"]
        var = data["kpi_var"] if "kpi_var" in data else data["var"]
        return cls(n=int(data["n"]), mean=float(mean), var=float(var))


@dataclass(frozen=True)
class RoiResult:
    """ROI, or why it cannot be measured (`measurable` False, `reason` set, figures None)."""

    measurable: bool
    reason: str | None = None
    uplift: float | None = None
    uplift_low: float | None = None
    uplift_high: float | None = None
    confidence: float = 0.95
    events: float | None = None
    value: float | None = None
    value_low: float | None = None
    value_high: float | None = None
    cost: float | None = None
    roi: float | None = None
    roi_low: float | None = None
    roi_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, currency: str = "USD") -> str:
        if not self.measurable:
            return f"ROI cannot be measured: {self.reason}"
        if self.roi is not None and self.roi_low is not None and self.roi_high is not None:
            roi = f"ROI {pct(self.roi)} [{pct(self.roi_low)}, {pct(self.roi_high)}]"
            if self.cost is not None and self.cost < MIN_COST:
                # a ratio over a near-zero cost (a few seconds of local tasks) is huge and says little
                roi += f" (the recorded cost is below {MIN_COST} {currency}: the ratio says little)"
        else:
            roi = "ROI not defined (no cost recorded)"
        return (
            f"uplift {self.uplift:+.4f} [{self.uplift_low:+.4f}, {self.uplift_high:+.4f}] "
            f"({self.confidence:.0%} CI) over {self.events:,.0f} events; value {self.value:,.2f} {currency} "
            f"[{self.value_low:,.2f}, {self.value_high:,.2f}], cost {self.cost:,.2f} {currency}; {roi}"
        )


# below this cost (in the report's currency) the ratio comes with a caveat: value / ~0 says little
MIN_COST = 0.01


def pct(ratio: float) -> str:
    """A ratio as a percentage; beyond +/-1,000,000% in scientific notation."""
    return f"{ratio:+.1%}" if abs(ratio) < 1e4 else f"{ratio * 100:+.2e}%"


def pool(arms: Mapping[str, ArmSummary]) -> ArmSummary:
    """The arms pooled into one sample: total n, weighted mean, pooled sample variance."""
    n = sum(a.n for a in arms.values())
    if n == 0:
        return ArmSummary(0, 0.0, 0.0)
    mean = sum(a.n * a.mean for a in arms.values()) / n
    # sum of squares around the pooled mean, from each arm's (n - 1) * var + n * (mean - pooled)^2
    ss = sum(max(a.n - 1, 0) * a.var + a.n * (a.mean - mean) ** 2 for a in arms.values())
    return ArmSummary(n, mean, ss / (n - 1) if n > 1 else 0.0)


def uplift_interval(
    model: ArmSummary, holdout: ArmSummary, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(uplift, low, high): the model arms' mean minus the holdout's, Welch normal interval."""
    uplift = model.mean - holdout.mean
    se = math.sqrt(model.var / model.n + holdout.var / holdout.n)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return uplift, uplift - z * se, uplift + z * se


def roi(
    arms: Mapping[str, ArmSummary | Mapping[str, Any]],
    *,
    cost: float,
    value_per_event: float | None,
    events: float | None = None,
    confidence: float = 0.95,
) -> RoiResult:
    """ROI of the model arms over `no_model`; `events` defaults to the model arms' events."""
    summaries = {k: v if isinstance(v, ArmSummary) else ArmSummary.from_dict(v) for k, v in arms.items()}
    holdout = summaries.get(HOLDOUT)
    model_arms = {k: v for k, v in summaries.items() if k in MODEL_ARMS and v.n > 0}
    if holdout is None or holdout.n == 0:
        return RoiResult(
            False,
            f"no '{HOLDOUT}' holdout arm: the value of the model cannot be measured",
            confidence=confidence,
        )
    if not model_arms:
        return RoiResult(False, "no events in a model arm", confidence=confidence)
    model = pool(model_arms)
    if model.n < 2 or holdout.n < 2:
        return RoiResult(
            False, "fewer than two events in the model arms or the holdout", confidence=confidence
        )
    if value_per_event is None:
        return RoiResult(
            False, "cost.value_per_event is not set: the uplift has no value", confidence=confidence
        )
    up, low, high = uplift_interval(model, holdout, confidence)
    n_events = float(model.n if events is None else events)
    value, v_low, v_high = (x * n_events * value_per_event for x in (up, low, high))
    v_low, v_high = min(v_low, v_high), max(v_low, v_high)  # a negative value per event flips them
    r: float | None = None
    r_low: float | None = None
    r_high: float | None = None
    if cost > 0:
        r, r_low, r_high = ((v - cost) / cost for v in (value, v_low, v_high))
    return RoiResult(
        True,
        None,
        up,
        low,
        high,
        confidence,
        n_events,
        value,
        v_low,
        v_high,
        cost,
        r,
        r_low,
        r_high,
    )
