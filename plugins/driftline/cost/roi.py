"""ROI of a model against its `no_model` holdout, from per-arm KPI summaries (n, mean, variance).

uplift = mean KPI of the model arms (champion and challenger pooled) - mean KPI of `no_model`.
value = uplift x events x value_per_event; ROI = (value - cost) / cost. The cost is the ledger's
(known), so the ROI interval is the uplift interval mapped through that linear function.

The uplift interval is a MOVER interval (Zou & Donner 2008, "Construction of confidence limits about
effect measures: a general approach", Stat Med 27:1693): each arm's mean gets an interval that
respects its skew, and the difference's limits are

    L = d - sqrt((m1 - l1)^2 + (u2 - m2)^2),   U = d + sqrt((u1 - m1)^2 + (m2 - l2)^2)

with the arm intervals, by the KPI's shape (recorded with the arm summaries by the evaluation):
- a 0/1 KPI: Wilson score intervals (MOVER-Wilson is Newcombe's hybrid score interval, 1998); it
  stays sensible with zero events in the holdout (the Wald interval has variance 0 there);
- a non-negative KPI (revenue): the delta-lognormal interval (Aitchison 1955): the share of non-zero
  values times a lognormal mean of the positive ones, on the log scale,
  var(log mean) = (1-p)/(n p) + s^2/k + s^4/(2(k-1));
- anything else (or summaries without the shape): Welch's normal interval.
Welch's interval under-covers for skewed revenue with a small holdout (80-89% at a 5% holdout of
lognormal revenue, sigma 1.5-2) and for rare events; benchmarks/stats_experiments.py measures all
three against the same draws. A holdout too small to say anything gets a plain `warning`.
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
    binary: bool = False
    positive_n: int | None = None  # non-negative KPI: how many values are > 0,
    log_mean: float | None = None  # the mean and variance of their logs
    log_var: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArmSummary:
        """From the experiment store's {"n", "kpi_mean", "kpi_var"[, "kpi_binary", "kpi_positive_n",
        "kpi_log_mean", "kpi_log_var"]} (or {"n", "mean", "var"})."""
        mean = data["kpi_mean"] if "kpi_mean" in data else data["mean"]
        var = data["kpi_var"] if "kpi_var" in data else data["var"]

        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        positive = data.get("kpi_positive_n")
        return cls(
            n=int(data["n"]),
            mean=float(mean),
            var=float(var) if var is not None else math.nan,
            binary=bool(data.get("kpi_binary")),
            positive_n=None if positive is None else int(positive),
            log_mean=num("kpi_log_mean"),
            log_var=num("kpi_log_var"),
        )


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
    method: str | None = None
    warning: str | None = None

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
        return (f"WARNING: {self.warning}. " if self.warning else "") + (
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
    """The arms pooled into one sample: total n, weighted mean, pooled sample variance (and the pooled
    shape summaries when every arm has them)."""
    n = sum(a.n for a in arms.values())
    if n == 0:
        return ArmSummary(0, 0.0, 0.0)
    mean = sum(a.n * a.mean for a in arms.values()) / n
    # sum of squares around the pooled mean, from each arm's (n - 1) * var + n * (mean - pooled)^2
    ss = sum(max(a.n - 1, 0) * _finite(a.var) + a.n * (a.mean - mean) ** 2 for a in arms.values())
    binary = all(a.binary for a in arms.values())
    logs = [a for a in arms.values() if a.positive_n is not None]
    if binary or len(logs) != len(arms):
        return ArmSummary(n, mean, ss / (n - 1) if n > 1 else 0.0, binary=binary)
    k = sum(int(a.positive_n or 0) for a in logs)
    log_mean = sum(int(a.positive_n or 0) * _finite(a.log_mean) for a in logs) / k if k else None
    log_ss = sum(
        max(int(a.positive_n or 0) - 1, 0) * _finite(a.log_var)
        + int(a.positive_n or 0) * (_finite(a.log_mean) - (log_mean or 0.0)) ** 2
        for a in logs
    )
    return ArmSummary(
        n, mean, ss / (n - 1) if n > 1 else 0.0, positive_n=k, log_mean=log_mean,
        log_var=log_ss / (k - 1) if k > 1 else None,
    )  # fmt: skip


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else 0.0


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(arm: ArmSummary, confidence: float = 0.95) -> tuple[float, float, float]:
    """(proportion, low, high): the Wilson score interval of a 0/1 KPI (sensible with 0 events)."""
    z, n, p = _z(confidence), arm.n, arm.mean
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def delta_lognormal(arm: ArmSummary, confidence: float = 0.95) -> tuple[float, float, float] | None:
    """(mean, low, high) of a non-negative KPI: share of non-zero values x lognormal mean of the positive
    ones, interval on the log scale (Aitchison's delta-lognormal); None with fewer than 2 positives."""
    k, n = int(arm.positive_n or 0), arm.n
    if k < 2 or arm.log_mean is None or arm.log_var is None or not math.isfinite(arm.log_var):
        return None
    p, s2 = k / n, arm.log_var
    log_mean = math.log(p) + arm.log_mean + s2 / 2
    se = math.sqrt((1 - p) / (n * p) + s2 / k + s2 * s2 / (2 * (k - 1)))
    z = _z(confidence)
    return math.exp(log_mean), math.exp(log_mean - z * se), math.exp(log_mean + z * se)


def uplift_interval(
    model: ArmSummary, holdout: ArmSummary, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(uplift, low, high): the model arms' mean minus the holdout's, Welch normal interval."""
    uplift = model.mean - holdout.mean
    se = math.sqrt(_finite(model.var) / model.n + _finite(holdout.var) / holdout.n)
    z = _z(confidence)
    return uplift, uplift - z * se, uplift + z * se


def mover(
    first: tuple[float, float, float], second: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Zou & Donner's MOVER interval of first - second from each one's (estimate, low, high)."""
    (m1, l1, u1), (m2, l2, u2) = first, second
    d = m1 - m2
    return d, d - math.hypot(m1 - l1, u2 - m2), d + math.hypot(u1 - m1, m2 - l2)


def skew_aware_interval(
    model: ArmSummary, holdout: ArmSummary, confidence: float = 0.95
) -> tuple[float, float, float, str]:
    """(uplift, low, high, method): MOVER-Wilson for 0/1 KPIs, MOVER delta-lognormal for non-negative
    ones, else Welch (see the module docs)."""
    if model.binary and holdout.binary:
        return (*mover(wilson(model, confidence), wilson(holdout, confidence)), "mover-wilson")
    first, second = delta_lognormal(model, confidence), delta_lognormal(holdout, confidence)
    if first is not None and second is not None:
        return (*mover(first, second), "mover-delta-lognormal")
    return (*uplift_interval(model, holdout, confidence), "welch")


def holdout_warning(holdout: ArmSummary, uplift: float, low: float, high: float) -> str | None:
    """A plain warning when the holdout is too small to say anything about the model's value."""
    if holdout.n < 100:
        return (
            f"the no_model holdout has only {holdout.n} entities with outcomes (fewer than 100): "
            "too small to say anything about the model's value"
        )
    if holdout.binary and round(holdout.mean * holdout.n) < 5:
        return (
            f"the no_model holdout has {round(holdout.mean * holdout.n)} event(s) among {holdout.n}: "
            "too few to say anything about the model's value"
        )
    scale = abs(holdout.mean)
    if low <= 0 <= high and scale > 0 and (high - low) / 2 >= 0.5 * scale:
        return (
            f"the uplift interval [{low:+.4g}, {high:+.4g}] spans 0 and is wider than half the holdout's mean "
            f"KPI ({holdout.mean:.4g}): the holdout ({holdout.n}) is too small to say whether the model adds value"
        )
    return None


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
    up, low, high, method = skew_aware_interval(model, holdout, confidence)
    warning = holdout_warning(holdout, up, low, high)
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
        method,
        warning,
    )
