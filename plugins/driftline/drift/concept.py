"""Concept drift: the champion's live metric on recently labelled rows vs its registered metric.

Concept drift needs both: the drop (absolute, in the direction of `registry.direction`) is at
least `drift.concept.tolerance` (the minimum effect), AND it is significant at
`drift.concept.alpha`: the one-sided lower bound `drop - z(1 - alpha) * se` is above 0, where
`se = sqrt(se_registered^2 + se_live^2)` combines the bootstrap standard error of the registered
value (recorded by training on its held-out rows, `<metric>_se`) and that of the live value (500
bootstrap resamples of the labelled rows). So a drop measured on a few hundred labels, or against
a baseline from a small held-out set, has to be larger to count. A champion trained before the
standard error was recorded has only the live one in its interval, and the reason says so.
With fewer than `drift.concept.min_labels` labelled rows, or no registered metric to compare
with, the check is "not evaluated" and says why; it is never reported as "no drift".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import ModelConfig


@dataclass(frozen=True)
class ConceptDriftResult:
    """The concept-drift verdict; `drifted` is None when not evaluated (see `reason`)."""

    evaluated: bool
    drifted: bool | None
    metric: str
    direction: Literal["maximize", "minimize"]
    reference_value: float | None
    live_value: float | None
    drop: float | None
    tolerance: float
    labels: int
    reason: str
    interval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConceptDriftResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def metric_drop(reference: float, live: float, direction: str) -> float:
    """How much worse `live` is than `reference` (positive = worse)."""
    return reference - live if direction == "maximize" else live - reference


def not_evaluated(
    config: ModelConfig, reason: str, labels: int = 0, reference: float | None = None
) -> ConceptDriftResult:
    return ConceptDriftResult(
        evaluated=False,
        drifted=None,
        metric=config.registry.metric,
        direction=config.registry.direction,
        reference_value=reference,
        live_value=None,
        drop=None,
        tolerance=config.drift.concept.tolerance,
        labels=labels,
        reason=reason,
    )


def labelled_rows(
    current: pd.DataFrame, config: ModelConfig, labels: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The current rows that have a label.

    With `labels` (rows of the `data.labels` source: entity id and label), the labels are joined
    onto the current window by `data.entity_id` (the latest label per entity wins); without,
    the window's own label column is used.
    """
    label, entity = config.data.label, config.data.entity_id
    if labels is None:
        if label not in current.columns:
            return current.iloc[0:0]
        return current[current[label].notna()]
    missing = [c for c in (entity, label) if c not in labels.columns]
    if missing:
        from driftline.exceptions import DriftInputError

        raise DriftInputError(
            f"the labels data has no column(s) {missing}: expected {entity!r} and {label!r}"
        )
    latest = labels[[entity, label]].dropna(subset=[label]).drop_duplicates(subset=[entity], keep="last")
    base = current.drop(columns=[label], errors="ignore")
    return base.merge(latest, on=entity, how="inner")


def drop_interval(
    drop: float, reference_se: float | None, live_se: float | None, alpha: float
) -> dict[str, Any]:
    """Normal-approximation interval of the metric drop from both standard errors."""
    import math

    from scipy.stats import norm

    se = math.sqrt((reference_se or 0.0) ** 2 + (live_se or 0.0) ** 2)
    z = float(norm.ppf(1 - alpha))
    return {
        "method": "normal approximation, bootstrap standard errors of both values",
        "alpha": alpha,
        "se": se,
        "reference_se": reference_se,
        "live_se": live_se,
        "lower": drop - z * se,
        "upper": drop + z * se,
    }


def evaluate_concept_drift(
    model: Any,
    rows: pd.DataFrame,
    config: ModelConfig,
    reference_value: float | None,
    reference_se: float | None = None,
) -> ConceptDriftResult:
    """Score `model` on labelled `rows` and compare with the registered metric value.

    `reference_se` is the registered value's bootstrap standard error (None: not recorded).
    """
    import math

    from driftline.training.bootstrap import metric_se, point_metric
    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import predictions, resolve_positive_class

    concept = config.drift.concept
    metric, direction = config.registry.metric, config.registry.direction
    n = len(rows)
    if reference_value is None:
        return not_evaluated(config, f"the champion has no registered {metric!r} value to compare with", n)
    if n < concept.min_labels:
        return not_evaluated(
            config,
            f"only {n} labelled rows, drift.concept.min_labels is {concept.min_labels}",
            n,
            reference_value,
        )
    X = prepare_features(rows, config.data.features)
    y = rows[config.data.label]
    positive = None
    if config.training.task == "binary_classification":
        positive = resolve_positive_class(y, config.data.positive_class, config.data.label, config.model.name)
    preds = predictions(model, X, y, config.training.task, positive)
    live = point_metric(metric, preds)
    if math.isnan(live):
        return not_evaluated(
            config,
            f"{metric!r} could not be computed on the {n} labelled rows (e.g. a single class)",
            n,
            reference_value,
        )
    live_se = metric_se(metric, preds, resamples=500)
    drop = metric_drop(float(reference_value), live, direction)
    interval = drop_interval(drop, reference_se, live_se, concept.alpha)
    large = drop >= concept.tolerance
    significant = interval["lower"] > 0
    drifted = large and significant
    if drifted:
        verdict = f"CONCEPT DRIFT: drop {drop:.4f} >= tolerance {concept.tolerance} and significant"
    elif not large:
        verdict = f"drop {drop:.4f} is within tolerance {concept.tolerance}"
    else:
        verdict = (
            f"drop {drop:.4f} >= tolerance {concept.tolerance} but not significant at alpha {concept.alpha}"
        )
    se_note = (
        ""
        if reference_se is not None
        else "; the registered value has no recorded standard error (only the live one counts)"
    )
    return ConceptDriftResult(
        evaluated=True,
        drifted=drifted,
        metric=metric,
        direction=direction,
        reference_value=float(reference_value),
        live_value=live,
        drop=drop,
        tolerance=concept.tolerance,
        labels=n,
        reason=(
            f"live {metric} {live:.4f} vs registered {float(reference_value):.4f} on {n} labels: {verdict} "
            f"({1 - 2 * concept.alpha:.0%} interval of the drop [{interval['lower']:.4f}, "
            f"{interval['upper']:.4f}], se {interval['se']:.4f}){se_note}"
        ),
        interval=interval,
    )
