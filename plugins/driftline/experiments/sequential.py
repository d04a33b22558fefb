"""An always-valid sequential test of a difference of means: the mixture SPRT (mSPRT).

Why mSPRT (Robbins 1970; Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", Operations
Research 2022) and not a group-sequential design: the evaluation DAG looks at the experiment after
every daily batch, for as long as the experiment runs, with batch sizes nobody fixes in advance.
A group-sequential design (Pocock, O'Brien-Fleming) needs the number and timing of looks planned
up front; the mSPRT's p-value and confidence sequence stay valid under continuous monitoring with
any number of looks at any times (Ville's inequality on a test martingale), so "look daily, stop
when it is clear" is exactly what it licenses.

Model: the difference of arm means, effect = mean_b - mean_a, is approximately normal with
variance s^2 = var_a/n_a + var_b/n_b (CLT, plug-in variances). With a normal mixing distribution
N(null, tau^2) over the alternative, the mixture likelihood ratio against "effect = null" is

    Lambda = sqrt(s^2 / (s^2 + tau^2)) * exp(tau^2 (effect - null)^2 / (2 s^2 (s^2 + tau^2)))

The always-valid p-value is min(1, 1/Lambda): rejecting whenever it is at most alpha, at any look,
keeps the type-I error at or below alpha. The confidence sequence (the nulls not rejected) is

    effect +/- sqrt(s^2 (s^2 + tau^2) / tau^2 * (2 log(1/alpha) + log((s^2 + tau^2) / s^2)))

tau^2 (the mixing variance) should be of the order of the squared effect worth detecting: the test
is most powerful near effects of size tau.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from driftline.experiments.errors import ExperimentInputError


@dataclass(frozen=True)
class SequentialResult:
    """One look of the mSPRT: b minus a."""

    effect: float
    std_error: float
    log_likelihood_ratio: float
    p_value: float
    lower: float
    upper: float
    alpha: float
    mixing_variance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(alpha: float, mixing_variance: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ExperimentInputError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not (mixing_variance > 0.0 and math.isfinite(mixing_variance)):
        raise ExperimentInputError(f"the mixing variance must be a positive number, got {mixing_variance!r}")


def half_width(variance: float, *, alpha: float, mixing_variance: float) -> float:
    """Half the width of the confidence sequence when the effect's variance is `variance`."""
    if variance <= 0.0:
        return 0.0
    total = variance + mixing_variance
    return math.sqrt(
        variance * total / mixing_variance * (2.0 * math.log(1.0 / alpha) + math.log(total / variance))
    )


def msprt(
    mean_a: float,
    var_a: float,
    n_a: int,
    mean_b: float,
    var_b: float,
    n_b: int,
    *,
    alpha: float,
    mixing_variance: float,
    null: float = 0.0,
) -> SequentialResult:
    """The mSPRT of "mean_b - mean_a = null" after n_a and n_b observations (variances are per observation)."""
    _check(alpha, mixing_variance)
    if n_a < 2 or n_b < 2:
        raise ExperimentInputError(f"the mSPRT needs at least 2 observations per arm, got {n_a} and {n_b}")
    effect = mean_b - mean_a
    variance = max(var_a, 0.0) / n_a + max(var_b, 0.0) / n_b
    if variance <= 0.0:
        # Both arms constant: the effect is known exactly.
        degenerate = effect != null
        return SequentialResult(
            effect, 0.0, math.inf if degenerate else 0.0, 0.0 if degenerate else 1.0, effect, effect,
            alpha, mixing_variance,
        )  # fmt: skip
    total = variance + mixing_variance
    log_lr = 0.5 * math.log(variance / total) + mixing_variance * (effect - null) ** 2 / (
        2.0 * variance * total
    )
    p_value = 1.0 if log_lr <= 0.0 else math.exp(-log_lr)
    width = half_width(variance, alpha=alpha, mixing_variance=mixing_variance)
    return SequentialResult(
        effect=effect,
        std_error=math.sqrt(variance),
        log_likelihood_ratio=log_lr,
        p_value=p_value,
        lower=effect - width,
        upper=effect + width,
        alpha=alpha,
        mixing_variance=mixing_variance,
    )


def samples_to_detect(
    var_a: float,
    var_b: float,
    share_b_over_a: float,
    effect: float,
    *,
    alpha: float,
    mixing_variance: float,
    limit: int = 10**12,
) -> int | None:
    """Observations of arm a (arm b gets `share_b_over_a` times as many) at which an observed effect of
    size `effect` would lie outside the confidence sequence around 0, i.e. be declared; a planning figure
    (about even odds of detecting a true effect of that size). None when no sample size up to `limit` does.
    """
    _check(alpha, mixing_variance)
    target = abs(effect)
    if target <= 0.0 or share_b_over_a <= 0.0:
        return None

    def detected(n: int) -> bool:
        variance = var_a / n + var_b / (n * share_b_over_a)
        return half_width(variance, alpha=alpha, mixing_variance=mixing_variance) < target

    high = 2
    while not detected(high):
        if high >= limit:
            return None
        high *= 2
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        if detected(mid):
            high = mid
        else:
            low = mid
    return high
