"""Concept drift: the champion's live metric on recently labelled rows vs its registered metric.

A drop beyond `drift.concept.tolerance` (absolute, in the direction of `registry.direction`) is
concept drift. With fewer than `drift.concept.min_labels` labelled rows, or no registered metric
to compare with, the check is "not evaluated" and says why; it is never reported as "no drift".
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


def evaluate_concept_drift(
    model: Any, rows: pd.DataFrame, config: ModelConfig, reference_value: float | None
) -> ConceptDriftResult:
    """Score `model` on labelled `rows` and compare with the registered metric value."""
    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import evaluate

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
    scores = evaluate(model, X, rows[config.data.label], config.training.task)
    if metric not in scores:
        return not_evaluated(
            config,
            f"{metric!r} could not be computed on the {n} labelled rows (e.g. a single class)",
            n,
            reference_value,
        )
    live = float(scores[metric])
    drop = metric_drop(float(reference_value), live, direction)
    drifted = drop > concept.tolerance
    verdict = "beyond" if drifted else "within"
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
            f"live {metric} {live:.4f} vs registered {float(reference_value):.4f} on {n} labels: "
            f"drop {drop:.4f} is {verdict} tolerance {concept.tolerance}"
        ),
    )
