"""The `drift` section: what is compared, with which statistic, and what a decision needs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict

StatTest = Literal["ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z", "kl_div", "hellinger"]


class ColumnDrift(Strict):
    """Per-column drift settings: leave the column out (`enabled: false`), or its own method/threshold."""

    enabled: bool = Field(default=True, description="false leaves the column out of data drift.")
    method: StatTest | None = Field(default=None, description="Default: drift.method, else Evidently's.")
    threshold: float | None = Field(default=None, gt=0)
    constant_in_window: Literal["report", "drift"] | None = Field(
        default=None, description="Override of drift.constant_in_window for this column."
    )


class TargetDrift(Strict):
    """Drift of the label's distribution or of the champion's predictions against the reference."""

    enabled: bool = True
    method: StatTest | None = Field(
        default=None, description="Evidently's default for the column type and size when null."
    )
    threshold: float | None = Field(default=None, gt=0)
    retrain: bool = Field(default=True, description="A detected drift is a reason to retrain.")


class ReportSection(Strict):
    """When the Evidently HTML report is built, and how big it may get."""

    when: Literal["always", "on_drift", "never"] = Field(
        default="on_drift",
        description="on_drift: only when data, label or prediction drift was detected.",
    )
    sample_size: int = Field(default=5_000, ge=100, description="Rows per side in the report (fixed seed).")
    max_columns: int = Field(
        default=20, ge=1, description="Columns in the report: drifted ones first, then by statistic."
    )


class ConceptDriftSection(Strict):
    """A drop of the champion's live metric on labelled recent data beyond `tolerance`."""

    enabled: bool = True
    tolerance: float = Field(
        default=0.05, ge=0, description="Minimum absolute metric drop that counts (the minimum effect)."
    )
    min_labels: int = Field(default=100, ge=1)
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="The drop must also be significant at this level."
    )


class Persistence(Strict):
    """Retrain on data, concept, label or prediction drift only when drift was seen in `k` of the last `n` runs."""

    k: int = Field(
        default=1, ge=1, description="Runs with drift needed among the last n (this one included)."
    )
    n: int = Field(default=1, ge=1, description="How many of the latest runs (by data time) are looked at.")

    @model_validator(mode="after")
    def _k_within_n(self) -> Persistence:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) cannot exceed n ({self.n})")
        return self


class PerformanceEstimationSection(Strict):
    """Label-free estimate of the champion's metric on the current rows (CBPE for binary, DLE for regression)."""

    enabled: bool = Field(
        default=False,
        description="Estimate the champion's metric on every run's rows, labelled or not (needs reference labels).",
    )
    metric: str | None = Field(
        default=None,
        description=(
            "The metric to estimate; null: registry.metric. Binary: roc_auc, pr_auc, accuracy, precision, "
            "recall, f1, log_loss (CBPE); regression: mae, rmse (DLE). Multiclass is not estimated."
        ),
    )
    max_drop: float = Field(
        default=0.05,
        ge=0,
        description="Minimum estimated drop (absolute, vs the metric on the reference rows) that counts.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="The estimated drop must also be significant at this level (one-sided lower bound above 0).",
    )
    band: float = Field(
        default=0.95, gt=0.5, lt=1, description="Coverage of the reported band around the estimate."
    )
    calibration: Literal["auto", "isotonic", "platt"] = Field(
        default="auto",
        description=(
            "Binary: how the champion's scores are calibrated on the reference; auto: the lower "
            "cross-validated log loss of isotonic and Platt (isotonic overfits a few hundred rows)."
        ),
    )
    retrain: bool = Field(
        default=True,
        description=(
            "An estimated drop retrains when the labels are late (concept drift not evaluated); "
            "with labels, concept drift decides and the estimate is a note."
        ),
    )
    min_reference_rows: int = Field(
        default=100, ge=20, description="Labelled reference (held-out) rows needed to calibrate."
    )
    min_class_rows: int = Field(
        default=10, ge=1, description="Binary: rows of each class the reference needs to calibrate."
    )
    label_draws: int = Field(
        default=400,
        ge=50,
        le=10_000,
        description="Binary: label sets drawn from the calibrated probabilities for the band.",
    )
    calibration_resamples: int = Field(
        default=30, ge=0, le=1000, description="Binary: bootstrap refits of the calibrator for the band."
    )
    reconcile_days: int = Field(
        default=14,
        ge=0,
        description="Look back this many days for earlier estimates whose labels have arrived since, and record both.",
    )
    min_label_coverage: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="An earlier estimate is compared with its realised metric once this share of its rows has labels.",
    )


class DriftSection(Strict):
    """Data and concept drift checks and the retrain policy."""

    method: StatTest | None = Field(
        default=None,
        description=(
            "null: ks for numerical columns (> 5 values), two-sample chisquare otherwise "
            "(decision: calibrated); Evidently's default per column type and size (decision: evidently)."
        ),
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        description=(
            "decision calibrated: the level of a test (ks, chisquare, z; default drift.alpha) or the "
            "minimum effect of a distance (default 0.1), which must also be significant at drift.alpha. "
            "decision evidently: Evidently's threshold."
        ),
    )
    decision: Literal["calibrated", "evidently"] = Field(
        default="calibrated",
        description=(
            "calibrated: two-sample tests and distances with a resampled null, Holm across columns "
            "(false alarms at most alpha at every size); evidently: Evidently 0.7's own decisions."
        ),
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="Level of the calibrated tests (family-wise with Holm)."
    )
    correction: Literal["holm", "none"] = Field(
        default="holm",
        description="holm: columns are decided with Holm-adjusted p-values; none: each at alpha alone.",
    )
    resamples: int = Field(
        default=500,
        ge=100,
        le=100_000,
        description="Draws of a distance's null distribution (raised so Holm can reject over many columns).",
    )
    persistence: Persistence = Field(
        default_factory=Persistence,
        description="Data/concept/label/prediction drift must be seen in k of the last n runs before it retrains.",
    )
    columns: dict[str, ColumnDrift] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list, description="Features left out of data drift.")
    constant_in_window: Literal["report", "drift"] = Field(
        default="report",
        description=(
            "A column constant in the current window at a value the reference has (e.g. month in a "
            "one-day window): 'report' lists it as constant in window, 'drift' lets its test decide."
        ),
    )
    current_window_days: int | None = Field(
        default=None,
        ge=1,
        description="Compare the last N days (ending at the run's interval end); null: the run's interval.",
    )
    drift_share: float = Field(
        default=0.3, gt=0, le=1, description="Share of drifted columns that is dataset drift."
    )
    sample_size: int = Field(default=50_000, ge=1000, description="Rows sampled per side (fixed seed).")
    report: ReportSection = Field(default_factory=ReportSection)
    label: TargetDrift = Field(default_factory=TargetDrift)
    prediction: TargetDrift = Field(default_factory=TargetDrift)
    concept: ConceptDriftSection = Field(default_factory=ConceptDriftSection)
    performance_estimation: PerformanceEstimationSection = Field(
        default_factory=PerformanceEstimationSection,
        description="Label-free estimate of the champion's metric, its band, and the retrain rule on an estimated drop.",
    )
    max_model_age_days: int | None = Field(default=30, ge=1)
    cooldown_hours: float = Field(default=24, ge=0)
    max_not_evaluated_runs: int = Field(
        default=3,
        ge=1,
        description="Alert when data or concept drift is 'not evaluated' for more consecutive runs than this.",
    )
