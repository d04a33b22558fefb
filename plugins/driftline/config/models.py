"""The config contract: one pydantic model per section of a model's YAML file.

Every model forbids unknown fields, so a typo is an error rather than a silently ignored
setting. Sections that a later Driftline release builds (none today: see NOT_SUPPORTED_YET)
are parsed so their schema is known, and then refused by the loader as "not supported yet".

The sections live in `driftline.config.sections` (one module each); this module holds
`ModelConfig`, which ties them together, and re-exports every section's names, so
`from driftline.config.models import ...` keeps working.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from driftline.config.sections.alerts import (
    ALERT_THRESHOLDS,
    AlertKind,
    AlertRule,
    AlertsSection,
    Channel,
    FreshnessObjective,
    SlackChannel,
    SmtpChannel,
    WebhookChannel,
)
from driftline.config.sections.base import (
    MODEL_NAME_PATTERN,
    Strict,
)
from driftline.config.sections.compute import (
    ComputeSection,
    SparkSettings,
)
from driftline.config.sections.cost import (
    CostSection,
    PriceTable,
    WorkerShare,
)
from driftline.config.sections.data import (
    DataSection,
    Feature,
    LocalSource,
    S3Source,
    Source,
    SqlSource,
    WaitSection,
    WindowSection,
)
from driftline.config.sections.drift import (
    ColumnDrift,
    ConceptDriftSection,
    DriftSection,
    PerformanceEstimationSection,
    Persistence,
    ReportSection,
    StatTest,
    TargetDrift,
)
from driftline.config.sections.experiments import (
    ARMS,
    AbDecisionSection,
    AbTestSection,
    Arm,
    OutcomesSection,
)
from driftline.config.sections.identity import (
    ModelSection,
    ScheduleSection,
)
from driftline.config.sections.inference import (
    InferenceSection,
)
from driftline.config.sections.registry import (
    ApprovalSection,
    RegistrySection,
)
from driftline.config.sections.training import (
    Estimator,
    KubernetesSection,
    Resources,
    Toleration,
    TrainingSection,
)
from driftline.config.sections.validation import (
    Expectation,
    ValidationSection,
)

__all__ = [
    "ALERT_THRESHOLDS",
    "ARMS",
    "MODEL_NAME_PATTERN",
    "NOT_SUPPORTED_YET",
    "AbDecisionSection",
    "AbTestSection",
    "AlertKind",
    "AlertRule",
    "AlertsSection",
    "ApprovalSection",
    "Arm",
    "Channel",
    "ColumnDrift",
    "ComputeSection",
    "ConceptDriftSection",
    "CostSection",
    "DataSection",
    "DriftSection",
    "Estimator",
    "Expectation",
    "Feature",
    "FreshnessObjective",
    "InferenceSection",
    "KubernetesSection",
    "LocalSource",
    "ModelConfig",
    "ModelSection",
    "OutcomesSection",
    "PerformanceEstimationSection",
    "Persistence",
    "PriceTable",
    "RegistrySection",
    "ReportSection",
    "Resources",
    "S3Source",
    "ScheduleSection",
    "SlackChannel",
    "SmtpChannel",
    "Source",
    "SparkSettings",
    "SqlSource",
    "StatTest",
    "Strict",
    "TargetDrift",
    "Toleration",
    "TrainingSection",
    "ValidationSection",
    "WaitSection",
    "WebhookChannel",
    "WindowSection",
    "WorkerShare",
]


_ON = ColumnDrift()


NOT_SUPPORTED_YET: tuple[str, ...] = ()  # sections a later release builds: refused by the loader


class ModelConfig(Strict):
    """One model's whole config: what `dags/configs/<model>.yaml` holds."""

    model: ModelSection
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    data: DataSection
    validation: ValidationSection = Field(default_factory=ValidationSection)
    drift: DriftSection = Field(default_factory=DriftSection)
    training: TrainingSection
    registry: RegistrySection = Field(default_factory=RegistrySection)
    ab_test: AbTestSection | None = None
    inference: InferenceSection | None = None
    alerts: AlertsSection | None = None
    cost: CostSection | None = None
    compute: ComputeSection = Field(default_factory=ComputeSection)

    @property
    def registered_model_name(self) -> str:
        """The MLflow registered model name."""
        return self.registry.name or self.model.name

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in config order."""
        return [f.name for f in self.data.features]

    @property
    def columns(self) -> list[str]:
        """Every column a window must have: id, timestamp, features, label."""
        return [self.data.entity_id, self.data.timestamp, *self.feature_names, self.data.label]

    @model_validator(mode="after")
    def _schedule_fits_partitions(self) -> ModelConfig:
        """Every run's data interval must be whole partitions of the sources (see data.templates)."""
        from driftline.data.templates import schedule_problem

        cron = self.schedule.cron
        if cron is None:
            return self
        for field, source in (("data.source", self.data.source), ("data.labels", self.data.labels)):
            if isinstance(source, LocalSource):
                problem = schedule_problem(cron, source.path, f"{field}.path")
            elif isinstance(source, S3Source):
                problem = schedule_problem(cron, source.uri, f"{field}.uri")
            else:
                problem = None
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _ab_test_fits(self) -> ModelConfig:
        ab = self.ab_test
        if ab is None or not ab.enabled:
            return self
        if self.inference is None:
            raise ValueError(
                "ab_test needs an inference section: both arms are scored by the batch inference"
            )
        if ab.outcomes is not None:
            o = ab.outcomes
            special = {o.entity_id, o.date, o.kpi, o.label, o.covariate} - {None}
            clash = sorted(set(ab.decision.guardrails) & special)
            if clash:
                raise ValueError(
                    f"ab_test.decision.guardrails names columns that already have a role in "
                    f"ab_test.outcomes: {clash}"
                )
        return self

    @model_validator(mode="after")
    def _freshness_needs_a_daily_schedule(self) -> ModelConfig:
        """`alerts.freshness.predictions_by` is a time of the day after a daily interval."""
        if self.alerts is not None and self.alerts.freshness is not None:
            if self.schedule.cron not in ("@daily", "0 0 * * *"):
                raise ValueError(
                    "alerts.freshness.predictions_by needs a daily schedule at midnight UTC "
                    f"(schedule.cron '@daily' or '0 0 * * *'; got {self.schedule.cron!r})"
                )
        return self

    @model_validator(mode="after")
    def _drift_columns_are_features(self) -> ModelConfig:
        unknown = sorted(set(self.drift.columns) - set(self.feature_names))
        if unknown:
            raise ValueError(f"drift.columns names columns that are not features: {unknown}")
        unknown = sorted(set(self.drift.exclude) - set(self.feature_names))
        if unknown:
            raise ValueError(f"drift.exclude names columns that are not features: {unknown}")
        types = {f.name: f.type for f in self.data.features}
        for name, col in self.drift.columns.items():
            if col.method is None:
                continue
            kind = "num" if types[name] in ("int", "float") else "cat"
            if kind == "cat" and col.method in ("wasserstein", "ks"):
                raise ValueError(
                    f"drift.columns.{name}.method {col.method!r} does not apply to a categorical column"
                )
            if kind == "num" and col.method in ("chisquare", "z"):
                raise ValueError(
                    f"drift.columns.{name}.method {col.method!r} does not apply to a numerical column"
                )
        monitored = [
            n
            for n in self.feature_names
            if n not in self.drift.exclude and self.drift.columns.get(n, _ON).enabled
        ]
        if not monitored:
            raise ValueError(
                "drift.exclude / drift.columns.<col>.enabled leave no feature to monitor for drift"
            )
        if self.data.positive_class is not None and self.training.task != "binary_classification":
            raise ValueError(
                f"data.positive_class applies to binary_classification only (training.task is {self.training.task})"
            )
        return self

    @model_validator(mode="after")
    def _estimated_metric_is_supported(self) -> ModelConfig:
        from driftline.drift.estimation import supported_metrics

        estimation = self.drift.performance_estimation
        if not estimation.enabled:
            return self
        task = self.training.task
        metric = estimation.metric or self.registry.metric
        supported = supported_metrics(task)
        if not supported:
            raise ValueError(
                f"drift.performance_estimation: training.task {task!r} has no label-free estimate "
                "(binary_classification: CBPE; regression: DLE); set drift.performance_estimation.enabled to false"
            )
        if metric not in supported:
            field = "drift.performance_estimation.metric" if estimation.metric else "registry.metric"
            raise ValueError(
                f"drift.performance_estimation: {field} {metric!r} is not estimated for {task!r}: "
                f"set drift.performance_estimation.metric to one of {', '.join(supported)}"
            )
        return self
