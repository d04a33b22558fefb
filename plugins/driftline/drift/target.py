"""Label drift and prediction drift against the champion's reference data.

- Label drift: the distribution of the label on the current window's labelled rows (the window's
  own label column, or `data.labels` joined by entity id) against the label column of the
  champion's training snapshot. Classification labels are compared as categories (class shares),
  regression targets as numbers. A change in the positive-label share alone is label drift even
  when no feature moved.
- Prediction drift: the champion's predictions on the current window against its predictions on
  its own reference data (binary: the positive class's probability; multiclass: the predicted
  class; regression: the prediction). At most `drift.sample_size` rows per side are scored
  (fixed seed), which bounds the cost of predicting on the reference.

Both use the same statistics as data drift (by default the calibrated two-sample decision of
`driftline.drift.column_tests`: KS for numbers, chi-square on class counts, at `drift.alpha`; with
`drift.decision: evidently`, Evidently's automatic method; or `drift.label` / `drift.prediction`
`method` and `threshold`), report the shares or summary statistics of both sides, and say whether a detected
drift is a retrain reason (`retrain`). Not enough labelled rows (`drift.concept.min_labels`) is
"not evaluated", never "no drift".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from driftline.drift.column_tests import calibrated_column_drift
from driftline.drift.stats import ColumnType, column_drift

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import DriftSection, ModelConfig, TargetDrift

Kind = Literal["label", "prediction"]


@dataclass(frozen=True)
class TargetDriftResult:
    """Label or prediction drift; `drifted` None when not evaluated (see `reason`)."""

    kind: Kind
    evaluated: bool
    drifted: bool | None
    retrain: bool
    reason: str
    method: str | None = None
    threshold: float | None = None
    statistic: float | None = None
    reference_rows: int = 0
    current_rows: int = 0
    reference: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetDriftResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def not_evaluated(kind: Kind, settings: TargetDrift, reason: str) -> TargetDriftResult:
    return TargetDriftResult(
        kind=kind, evaluated=False, drifted=None, retrain=settings.retrain, reason=reason
    )


def describe_values(values: pd.Series, column_type: ColumnType) -> dict[str, Any]:
    """Class shares (top 10) of a categorical series, or mean/std/quantiles of a numerical one."""
    clean = values.dropna()
    if column_type == "cat":
        shares = clean.astype(str).value_counts(normalize=True).head(10)
        return {"shares": {str(k): round(float(v), 4) for k, v in shares.items()}}
    if clean.empty:
        return {}
    q = clean.astype(float).quantile([0.1, 0.5, 0.9])
    return {
        "mean": round(float(clean.mean()), 6),
        "std": round(float(clean.std(ddof=0)), 6),
        "p10": round(float(q.iloc[0]), 6),
        "p50": round(float(q.iloc[1]), 6),
        "p90": round(float(q.iloc[2]), 6),
    }


def compare(
    kind: Kind,
    reference: pd.Series,
    current: pd.Series,
    column_type: ColumnType,
    settings: TargetDrift,
    drift: DriftSection | None = None,
) -> TargetDriftResult:
    """Drift of one target series (labels or predictions) with the configured method and threshold.

    With `drift` (the config's drift section) its `decision`, `alpha` and `resamples` apply: the
    calibrated two-sample decision by default; without it, the calibrated one at alpha 0.05.
    """
    decision = drift.decision if drift is not None else "calibrated"
    if decision == "calibrated":
        col = calibrated_column_drift(
            kind,
            reference,
            current,
            column_type,
            method=settings.method,
            threshold=settings.threshold,
            alpha=drift.alpha if drift is not None else 0.05,
            resamples=drift.resamples if drift is not None else 500,
        )
    else:
        col = column_drift(
            kind, reference, current, column_type, method=settings.method, threshold=settings.threshold
        )
    ref_desc, cur_desc = describe_values(reference, column_type), describe_values(current, column_type)
    if col.drifted is None:
        return TargetDriftResult(
            kind, False, None, settings.retrain, str(col.reason),
            reference_rows=col.reference_rows, current_rows=col.current_rows,
        )  # fmt: skip
    shown = _shown(ref_desc, cur_desc)
    return TargetDriftResult(
        kind=kind,
        evaluated=True,
        drifted=col.drifted,
        retrain=settings.retrain,
        reason=(
            f"{col.method} {col.statistic:.4g} (threshold {col.threshold}"
            f"{'' if col.p_value is None else f', p-value {col.p_value:.4g}'}) on "
            f"{col.reference_rows} reference vs {col.current_rows} current rows; {shown}"
        ),
        method=col.method,
        threshold=col.threshold,
        statistic=col.statistic,
        reference_rows=col.reference_rows,
        current_rows=col.current_rows,
        reference=ref_desc,
        current=cur_desc,
    )


def _shown(ref: dict[str, Any], cur: dict[str, Any]) -> str:
    if "shares" in ref:
        return f"shares {ref['shares']} -> {cur.get('shares', {})}"
    if "mean" in ref and "mean" in cur:
        return f"mean {ref['mean']:.4g} -> {cur['mean']:.4g}, std {ref['std']:.4g} -> {cur['std']:.4g}"
    return ""


def target_type(config: ModelConfig) -> ColumnType:
    return "num" if config.training.task == "regression" else "cat"


def label_drift(reference: pd.DataFrame, labelled: pd.DataFrame, config: ModelConfig) -> TargetDriftResult:
    """The label's distribution on the labelled current rows vs the reference snapshot's labels."""
    settings, label = config.drift.label, config.data.label
    if not settings.enabled:
        return not_evaluated("label", settings, "drift.label.enabled is false")
    if label not in reference.columns:
        return not_evaluated("label", settings, f"the reference data has no label column {label!r}")
    needed = config.drift.concept.min_labels
    if len(labelled) < needed:
        return not_evaluated(
            "label", settings, f"only {len(labelled)} labelled rows, drift.concept.min_labels is {needed}"
        )
    kind = target_type(config)
    ref, cur = reference[label], labelled[label]
    if kind == "cat":  # compare label values as categories, whatever their dtype
        ref, cur = ref.astype("object"), cur.astype("object")
    return compare("label", ref, cur, kind, settings, config.drift)


def model_outputs(
    model: Any, X: pd.DataFrame, config: ModelConfig, positive: Any
) -> tuple[pd.Series, ColumnType]:
    """What prediction drift compares: P(positive) (binary), the predicted class, or the prediction."""
    import numpy as np
    import pandas as pd

    from driftline.training.metrics import same_label

    task = config.training.task
    if task == "binary_classification" and hasattr(model, "predict_proba"):
        classes = list(getattr(model, "classes_", []))
        column = next((i for i, c in enumerate(classes) if same_label(c, positive)), None)
        if column is not None:
            proba = np.asarray(model.predict_proba(X))[:, column]
            return pd.Series(proba, index=X.index, name="prediction"), "num"
    pred = pd.Series(np.asarray(model.predict(X)), index=X.index, name="prediction")
    if task == "regression":
        return pred.astype(float), "num"
    return pred.astype("object"), "cat"


def prediction_drift(
    model: Any, reference: pd.DataFrame, current: pd.DataFrame, config: ModelConfig, seed: int = 0
) -> TargetDriftResult:
    """The champion's predictions on (a sample of) the current window vs on its reference data."""
    from driftline.drift.report import sample_rows
    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import resolve_positive_class

    settings = config.drift.prediction
    if not settings.enabled:
        return not_evaluated("prediction", settings, "drift.prediction.enabled is false")
    positive = None
    if config.training.task == "binary_classification" and config.data.label in reference.columns:
        positive = resolve_positive_class(
            reference[config.data.label], config.data.positive_class, config.data.label, config.model.name
        )
    size = config.drift.sample_size
    reference, note = held_out_rows(reference, config)
    ref = sample_rows(reference, size, seed)
    cur = sample_rows(current, size, seed + 1)
    ref_out, kind = model_outputs(model, prepare_features(ref, config.data.features), config, positive)
    cur_out, _ = model_outputs(model, prepare_features(cur, config.data.features), config, positive)
    result = compare("prediction", ref_out, cur_out, kind, settings, config.drift)
    result = TargetDriftResult(**{**result.to_dict(), "reason": f"{result.reason}; reference: {note}"})
    if positive is not None and kind == "num":
        return TargetDriftResult(
            **{**result.to_dict(), "reason": f"{result.reason} (P({config.data.label}={positive!r}))"}
        )
    return result


def held_out_rows(reference: pd.DataFrame, config: ModelConfig) -> tuple[pd.DataFrame, str]:
    """The reference rows the champion did not learn from: training's held-out latest days.

    Predictions on the rows a model was fitted on are more confident than on any new data, so
    comparing today's predictions with them calls drift on every quiet day. The held-out part is
    found the way training split it (`training.split.time_split`). When the snapshot cannot be split
    so (no timestamp column, or the split's settings changed since), the whole reference is used and
    the reason says so.
    """
    from driftline.exceptions import DriftlineError
    from driftline.training.split import time_split

    training = config.training
    if config.data.timestamp not in reference.columns:
        return (
            reference,
            f"all {len(reference)} rows (no {config.data.timestamp!r} column to find the held-out days)",
        )
    try:
        _, valid = time_split(
            reference, config.data.timestamp, training.validation_days, training.min_validation_rows
        )
    except DriftlineError as exc:
        return reference, f"all {len(reference)} rows, in-sample (the held-out days cannot be found: {exc})"
    return valid, f"the {len(valid)} held-out rows of training's validation days (out of sample)"
