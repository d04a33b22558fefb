"""The config contract: one pydantic model per section of a model's YAML file.

Every model forbids unknown fields, so a typo is an error rather than a silently ignored
setting. Sections that a later Driftline release builds (A/B tests, alerts, cost)
are parsed so their schema is known, and then refused by the loader as "not supported yet".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


class Strict(BaseModel):
    """Base: unknown fields are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# --- identity and schedule ---------------------------------------------------------------


class ModelSection(Strict):
    """Who the model is: its name becomes part of every DAG id."""

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="Lower-case letters, digits, underscores.")
    owner: str = Field(default="driftline", min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _no_double_underscore(cls, value: str) -> str:
        if "__" in value or value.endswith("_"):
            raise ValueError(
                f"{value!r} may not contain '__' or end with '_': DAG ids use '__' as a separator"
            )
        return value


class ScheduleSection(Strict):
    """When the pipeline runs. `cron: null` means manual triggers only."""

    cron: str | None = "@daily"
    start_date: dt.date = dt.date(2026, 1, 1)
    catchup: bool = False
    max_active_runs: int = Field(
        default=4,
        ge=1,
        description="Runs of the pipeline at once (days waiting for data do not block other days); "
        "the registry steps still run one at a time.",
    )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value in ("@once", "@continuous"):
            raise ValueError(
                f"{value} gives runs no data interval to score: use a cron or preset such as @daily, "
                "or null for manual runs only"
            )
        if value is None or value in _CRON_PRESETS:
            return value
        from croniter import croniter

        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields) or not croniter.is_valid(value):
            raise ValueError(
                "not a valid cron expression: expected 5 fields (minute hour day month weekday) "
                f"or one of {sorted(_CRON_PRESETS)}"
            )
        return value


# --- data ----------------------------------------------------------------------------------


class LocalSource(Strict):
    """Parquet or CSV files on a local or mounted path.

    `path` is a glob or a date-partition template: `{ds}` / `{date:%Y/%m/%d}` are rendered
    for every day of the window, e.g. `include/data/churn/dt={ds}/part.parquet`.
    """

    kind: Literal["local"]
    path: str = Field(min_length=1)
    format: Literal["parquet", "csv"] = "parquet"


class S3Source(Strict):
    """Parquet or CSV objects in S3, read through an Airflow AWS connection."""

    kind: Literal["s3"]
    uri: str = Field(
        pattern=r"^s3://[^/]+/.+", description="s3://bucket/key template, e.g. .../dt={ds}/*.parquet"
    )
    conn_id: str = "aws_default"
    format: Literal["parquet", "csv"] = "parquet"


class SqlSource(Strict):
    """A table or query behind an Airflow connection; the window is pushed into the query."""

    kind: Literal["sql"]
    conn_id: str = Field(min_length=1)
    table: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    query: str | None = Field(
        default=None, description="SELECT with :window_start and :window_end bind parameters."
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


Source = Annotated[LocalSource | S3Source | SqlSource, Field(discriminator="kind")]


class Feature(Strict):
    """One model input column and its type."""

    name: str = Field(min_length=1)
    type: Literal["int", "float", "bool", "category", "string"]


class WindowSection(Strict):
    """How much history one training run sees."""

    kind: Literal["rolling", "expanding", "since_champion"] = "rolling"
    days: int | None = Field(
        default=30, ge=1, description="Size of a rolling window (UI param window_days overrides)."
    )

    @model_validator(mode="after")
    def _days_for_rolling(self) -> WindowSection:
        if self.kind == "rolling" and self.days is None:
            raise ValueError("a rolling window needs 'days'")
        return self


class WaitSection(Strict):
    """How a run waits for its current window's data (and late labels) before loading it."""

    enabled: bool = Field(default=True, description="Wait for the data before load_current.")
    mode: Literal["deferrable", "reschedule", "poke"] = Field(
        default="deferrable",
        description="deferrable: polls in the triggerer, no worker slot; reschedule: a short task "
        "per poke; poke: one task holds a worker slot while it waits.",
    )
    timeout_minutes: int = Field(
        default=360, ge=1, description="Fail the run (naming the missing partitions) after this long."
    )
    poke_interval_seconds: int = Field(default=300, ge=1, description="Time between two checks.")
    labels_timeout_minutes: int = Field(
        default=0,
        ge=0,
        description="With data.labels: wait this long for the labels of the window (0: do not "
        "wait); after it the run goes on without them.",
    )
    freshness_query: str | None = Field(
        default=None,
        description="SQL sources: a query returning one timestamp (e.g. SELECT max(loaded_at) FROM "
        "etl_log); the data has arrived when it is at or after the window's end. Default: rows "
        "exist for every day of the window.",
    )


class DataSection(Strict):
    """Where the data lives and what its columns mean."""

    source: Source
    labels: Source | None = Field(
        default=None, description="Late-arriving labels for scored entities (concept drift)."
    )
    entity_id: str = Field(min_length=1)
    timestamp: str = Field(min_length=1)
    label: str = Field(min_length=1)
    positive_class: str | int | bool | None = Field(
        default=None,
        description="The positive label of a binary task (required for string labels; 0/1 default to 1).",
    )
    features: list[Feature] = Field(min_length=1)
    window: WindowSection = Field(default_factory=WindowSection)
    wait: WaitSection = Field(default_factory=WaitSection)
    snapshot_root: str | None = Field(
        default=None,
        description="Folder or s3:// prefix for run snapshots (default: DRIFTLINE_HOME/snapshots).",
    )

    @model_validator(mode="after")
    def _distinct_columns(self) -> DataSection:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {dupes}")
        special = {self.entity_id, self.timestamp, self.label} & set(names)
        if special:
            raise ValueError(f"entity_id/timestamp/label must not also be features: {sorted(special)}")
        if self.wait.freshness_query is not None and self.source.kind != "sql":
            raise ValueError("wait.freshness_query applies to a sql source only")
        return self


# --- validation ----------------------------------------------------------------------------


class Expectation(Strict):
    """One Great Expectations expectation, by its snake_case name, e.g. expect_column_values_to_not_be_null."""

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["fail", "warn"] = "fail"


class ValidationSection(Strict):
    """The Great Expectations gate every batch passes before training or scoring."""

    enabled: bool = True
    suite: str | None = Field(default=None, description="A GX suite JSON file under include/.")
    expectations: list[Expectation] = Field(default_factory=list)
    min_rows: int = Field(default=1, ge=1)
    schema_checks: bool = Field(
        default=True, description="Derive column-exists and type checks from the features."
    )


# --- drift ---------------------------------------------------------------------------------

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


class DriftSection(Strict):
    """Data and concept drift checks and the retrain policy."""

    method: StatTest | None = Field(
        default=None, description="Evidently's default per column type when null."
    )
    threshold: float | None = Field(default=None, gt=0)
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
    max_model_age_days: int | None = Field(default=30, ge=1)
    cooldown_hours: float = Field(default=24, ge=0)
    max_not_evaluated_runs: int = Field(
        default=3,
        ge=1,
        description="Alert when data or concept drift is 'not evaluated' for more consecutive runs than this.",
    )


# --- training ------------------------------------------------------------------------------


class Estimator(Strict):
    """A scikit-learn compatible class path, or a `module:function` under include/."""

    class_path: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    callable: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_of(self) -> Estimator:
        if (self.class_path is None) == (self.callable is None):
            raise ValueError("give exactly one of 'class_path' or 'callable'")
        return self


class Toleration(Strict):
    """A Kubernetes toleration."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = "NoSchedule"


class Resources(Strict):
    """Pod resources; requests equal limits unless `*_limit` is set."""

    cpu: str = Field(default="1", pattern=r"^\d+(\.\d+)?m?$")
    memory: str = Field(default="2Gi", pattern=r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
    cpu_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?m?$")
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
    gpu: int = Field(default=0, ge=0, le=16)
    gpu_resource: str = "nvidia.com/gpu"
    gpu_type: str | None = Field(default=None, description="Node label value selecting the GPU model.")
    gpu_type_label: str = "nvidia.com/gpu.product"


class KubernetesSection(Strict):
    """How the KubernetesPodOperator runs training (the same entrypoint as local)."""

    image: str = "ghcr.io/driftline/train:0.1.0"
    command: list[str] | None = Field(default=None, description="Default: python -m driftline.training.")
    args: list[str] | None = None
    namespace: str = Field(default="driftline", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    service_account: str | None = None
    resources: Resources = Field(default_factory=Resources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    pool: str = "gpu"
    startup_timeout_seconds: int = Field(default=600, ge=30)
    schedule_timeout_seconds: int = Field(default=900, ge=30)
    execution_timeout_minutes: int = Field(default=240, ge=1)
    on_finish_action: Literal["delete_pod", "delete_succeeded_pod", "keep_pod"] = "delete_pod"
    reattach_on_restart: bool = True
    deferrable: bool = False
    run_as_user: int = Field(default=1000, ge=1)
    mlflow_secret: str | None = Field(
        default="driftline-mlflow", description="Kubernetes Secret with MLFLOW_TRACKING_URI and credentials."
    )
    image_pull_secrets: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class TrainingSection(Strict):
    """What to fit and where: `backend` picks `local` (the worker) or `kubernetes` (a pod)."""

    backend: Literal["local", "kubernetes"] = "local"
    task: Literal["binary_classification", "multiclass_classification", "regression"] = (
        "binary_classification"
    )
    estimator: Estimator
    validation_days: int = Field(
        default=3, ge=1, description="Latest days of the window held out for evaluation."
    )
    min_validation_rows: int = Field(
        default=500,
        ge=1,
        description="The held-out span extends backwards, day by day, until it has this many rows.",
    )
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)


# --- registry ------------------------------------------------------------------------------


class ApprovalSection(Strict):
    """Human approval of every promotion (the gate's and an A/B test's), through Airflow's HITL.

    With `required`, a promotion waits in an Airflow approval task (Browse > Required Actions, or
    the HITL REST API) that shows the comparison; only `respondents` may answer; no answer within
    `timeout_hours` rejects it. Who approved is written into the registry's audit trail.
    """

    required: bool = Field(default=False, description="Put a human approval in front of every promotion.")
    respondents: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Airflow user ids allowed to approve or reject (required when `required` is true).",
    )
    timeout_hours: float = Field(
        default=72.0, gt=0, le=24 * 90, description="No answer within this long rejects the promotion."
    )

    @model_validator(mode="after")
    def _respondents_when_required(self) -> ApprovalSection:
        if self.required and not self.respondents:
            raise ValueError("approval.required needs at least one user id in approval.respondents")
        if len(set(self.respondents)) != len(self.respondents):
            raise ValueError(f"approval.respondents lists a user twice: {self.respondents}")
        return self


class RegistrySection(Strict):
    """The registered model, its evaluation metric and the promotion gate."""

    name: str | None = Field(default=None, description="Registered model name (default: model.name).")
    metric: str = "roc_auc"
    direction: Literal["maximize", "minimize"] = "maximize"
    min_improvement: float = Field(default=0.0, ge=0, description="Minimum effect to promote.")
    min_score: float | None = Field(default=None, description="Absolute floor for the first champion.")
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="The improvement must be significant at this level."
    )
    bootstrap_resamples: int = Field(
        default=1000, ge=100, le=100_000, description="Paired bootstrap resamples of the held-out rows."
    )
    mlflow_conn_id: str = Field(
        default="mlflow_default",
        min_length=1,
        description="Airflow connection of the MLflow tracking server / registry (a missing one is an error).",
    )
    approval: ApprovalSection = Field(
        default_factory=ApprovalSection, description="Human approval in front of every promotion."
    )


# --- sections built by later releases --------------------------------------------------------


class AbTestSection(Strict):
    """A/B test of the challenger on a deterministic share of entities."""

    enabled: bool = True
    challenger_share: float = Field(default=0.1, gt=0, lt=1)
    min_days: int = Field(default=7, ge=1)
    metric: str | None = None


class InferenceSection(Strict):
    """Batch inference into DynamoDB: the run's validated current window, scored by the champion.

    Key layouts: `latest` keeps one item per entity (partition key only; a rerun of an older
    date never overwrites a newer prediction), `history` one item per entity and scored date
    (partition key + sort key holding the date the window ends; readers take the newest).
    """

    table: str = Field(pattern=r"^[A-Za-z0-9_.\-]{3,255}$", description="DynamoDB table name.")
    layout: Literal["latest", "history"] = "latest"
    partition_key: str = Field(default="entity_id", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    sort_key: str = Field(
        default="scored_for",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Sort key attribute of the `history` layout (the window's end date); unused by `latest`.",
    )
    ttl_days: int | None = Field(
        default=None, ge=1, description="Items expire this long after their data time."
    )
    ttl_attribute: str = Field(default="expires_at", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    create_if_missing: bool = Field(
        default=True, description="Create the table (on-demand, configured keys, TTL) when it does not exist."
    )
    mode: Literal["upsert", "snapshot"] = Field(
        default="upsert", description="`upsert`: BatchWriteItem into the table. `snapshot`: not built yet."
    )
    chunk_rows: int = Field(default=50_000, ge=100, le=5_000_000, description="Rows scored per chunk.")
    writers: int = Field(default=8, ge=1, le=64, description="Parallel BatchWriteItem threads.")
    max_attempts: int = Field(default=10, ge=1, le=50, description="Tries per batch before giving up.")
    window: Literal["current"] = Field(
        default="current",
        description="What is scored: `current` = the run's validated data interval (latest row per entity).",
    )
    conn_id: str = Field(default="aws_default", min_length=1, description="Airflow AWS connection id.")

    @model_validator(mode="after")
    def _distinct_keys(self) -> InferenceSection:
        if self.layout == "history" and self.sort_key == self.partition_key:
            raise ValueError("sort_key must differ from partition_key")
        if self.mode == "snapshot":
            raise ValueError("mode 'snapshot' (S3 export + ImportTable) is not built yet: use 'upsert'")
        return self


class AlertsSection(Strict):
    """Notifiers for run failures and metric thresholds."""

    on_failure: list[str] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)


class CostSection(Strict):
    """Prices per resource-hour for cost and ROI reporting."""

    currency: str = "USD"
    cpu_hour: float = Field(default=0.0, ge=0)
    gpu_hour: float = Field(default=0.0, ge=0)
    memory_gb_hour: float = Field(default=0.0, ge=0)


_ON = ColumnDrift()

NOT_SUPPORTED_YET = ("ab_test", "alerts", "cost")


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
