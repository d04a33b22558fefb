"""The config contract: one pydantic model per section of a model's YAML file.

Every model forbids unknown fields, so a typo is an error rather than a silently ignored
setting. Sections that a later Driftline release builds (none today: see NOT_SUPPORTED_YET)
are parsed so their schema is known, and then refused by the loader as "not supported yet".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Self

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
        if value == "cost_report":
            raise ValueError(
                f"{value!r} is reserved: it is the id of the cost-report DAG (driftline__cost_report)"
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


_ENCODING_HELP = (
    "Text encoding of CSV files, e.g. cp1252 or latin-1 (default utf-8; a UTF-8 BOM is accepted); "
    "parquet files carry their own."
)


def _known_codec(value: str | None) -> str | None:
    """A text encoding Python knows (None: utf-8)."""
    if value is None:
        return value
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"{value!r} is not a known text encoding (e.g. utf-8, cp1252, latin-1)") from None
    return value


class _FileFormat(Strict):
    """The file format of a local or S3 source, and the text encoding of its CSV files."""

    format: Literal["parquet", "csv"] = "parquet"
    encoding: str | None = Field(default=None, description=_ENCODING_HELP)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        return _known_codec(value)

    @model_validator(mode="after")
    def _encoding_for_csv(self) -> Self:
        if self.encoding is not None and self.format != "csv":
            raise ValueError(f"encoding applies to csv files only (format is {self.format!r})")
        return self


class LocalSource(_FileFormat):
    """Parquet or CSV files on a local or mounted path.

    `path` is a glob or a date-partition template: `{ds}` / `{date:%Y/%m/%d}` are rendered
    for every day of the window, e.g. `include/data/churn/dt={ds}/part.parquet`.
    """

    kind: Literal["local"]
    path: str = Field(min_length=1)


class S3Source(_FileFormat):
    """Parquet or CSV objects in S3, read through an Airflow AWS connection."""

    kind: Literal["s3"]
    uri: str = Field(
        pattern=r"^s3://[^/]+/.+", description="s3://bucket/key template, e.g. .../dt={ds}/*.parquet"
    )
    conn_id: str = "aws_default"


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
    optional: bool = Field(
        default=False,
        description="The predictions service's /score accepts null or no value for this feature (scored "
        "as missing, as batch scoring does); otherwise a missing value is a 422. Not for bool features: "
        "training turns a missing bool into false.",
    )

    @model_validator(mode="after")
    def _no_optional_bool(self) -> Feature:
        if self.optional and self.type == "bool":
            raise ValueError(
                f"feature {self.name!r}: a bool feature cannot be optional (training reads a missing bool "
                "as false, so the model never saw one missing); use type int (0/1) for a bool that may be missing"
            )
        return self


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
    trusted_serialization: list[Literal["pickle", "cloudpickle"]] = Field(
        default_factory=list,
        description="Model serialization formats that can run code when loaded and that this model's "
        "artifacts are nevertheless trusted to use (e.g. [cloudpickle] for an estimator.callable whose "
        "model skops cannot store). Empty: only skops models are loaded.",
    )
    skops_trusted_types: list[Annotated[str, Field(min_length=3, pattern=r"^[A-Za-z_][\w.]*$")]] = Field(
        default_factory=list,
        description="Extra fully qualified type names a skops model of this config may hold beyond "
        "skops' own trusted types (the artifact's own list is never used).",
    )


# --- sections built by later releases --------------------------------------------------------


Arm = Literal["champion", "challenger", "no_model"]
ARMS: tuple[str, ...] = ("champion", "challenger", "no_model")


class OutcomesSection(Strict):
    """The observed outcome per entity and date that an A/B test is judged on.

    Read from the same source kinds as the data (local, s3, sql), for a window of dates; joined
    with the arms recorded on the predictions by entity id.
    """

    source: Source
    entity_id: str = Field(min_length=1, description="Entity id column (matches data.entity_id values).")
    date: str = Field(min_length=1, description="Date or timestamp column of the outcome.")
    kpi: str = Field(min_length=1, description="Numeric business KPI column (e.g. revenue, retained 0/1).")
    label: str | None = Field(
        default=None, description="Observed label column, to compute the model metric per arm."
    )
    covariate: str | None = Field(
        default=None,
        description="Numeric pre-period covariate column for CUPED variance reduction (optional).",
    )

    @model_validator(mode="after")
    def _distinct(self) -> OutcomesSection:
        named = [("entity_id", self.entity_id), ("date", self.date), ("kpi", self.kpi)]
        named += [(f, v) for f, v in (("label", self.label), ("covariate", self.covariate)) if v]
        seen: dict[str, str] = {}
        for field, column in named:
            if column in seen:
                raise ValueError(f"{field} and {seen[column]} name the same column {column!r}")
            seen[column] = field
        return self


class AbDecisionSection(Strict):
    """How an A/B test is decided (by the evaluation DAG, after every daily batch)."""

    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="False-positive rate of the sequential test."
    )
    direction: Literal["maximize", "minimize"] = Field(
        default="maximize", description="Whether a higher KPI is better."
    )
    min_samples_per_arm: int = Field(
        default=1000, ge=10, description="No decision before each arm has this many outcomes."
    )
    max_days: int = Field(
        default=28, ge=1, description="Stop (keep the champion) when no decision after this many days."
    )
    min_effect: float | None = Field(
        default=None,
        gt=0,
        description="Smallest KPI change worth detecting, absolute in KPI units: centres the mSPRT's mixing "
        "distribution (mixing variance min_effect^2) and enables the futility stop.",
    )
    mixing_variance: float | None = Field(
        default=None,
        gt=0,
        description="The mSPRT's mixing variance tau^2 (default: min_effect^2, else 0.01 x the pooled KPI "
        "variance).",
    )
    futility: bool = Field(
        default=True,
        description="With min_effect: stop (keep the champion) once the always-valid interval lies within "
        "+/-min_effect, i.e. no effect worth a change is left.",
    )
    design: Literal["msprt", "group_sequential"] = Field(
        default="msprt",
        description="The sequential test: 'msprt' (always valid, any number of looks) or "
        "'group_sequential' (Lan-DeMets O'Brien-Fleming-type bounds over planned_looks daily looks; "
        "more power at the planned horizon, stops there).",
    )
    planned_looks: int | None = Field(
        default=None,
        ge=1,
        description="group_sequential: the planned number of looks (one per daily evaluation; default max_days).",
    )
    max_samples_per_arm: int | None = Field(
        default=None,
        ge=10,
        description="Stop (keep the champion) when both arms have this many outcomes without a verdict.",
    )
    guardrails: dict[str, float] = Field(
        default_factory=dict,
        description="Outcome column -> largest tolerated relative drop of the challenger vs champion "
        "(0.05 = 5%); a larger drop stops the challenger early.",
    )

    @field_validator("guardrails")
    @classmethod
    def _drops(cls, value: dict[str, float]) -> dict[str, float]:
        for column, drop in value.items():
            if not 0 < drop < 1:
                raise ValueError(
                    f"{column}: the largest tolerated relative drop must be between 0 and 1 (exclusive)"
                )
        return value


class AbTestSection(Strict):
    """A/B test of a challenger that passed the gate, on deterministic shares of the entities.

    While an experiment runs, every batch inference assigns each entity an arm by a salted hash
    of its id: `challenger` (challenger_share) is scored by the challenger version, `no_model`
    (holdout_share) gets `no_model_default` instead of a prediction, `champion` (the rest) by
    the champion.
    """

    enabled: bool = True
    challenger_share: float = Field(
        default=0.1, gt=0, lt=1, description="Share of entities in the challenger arm."
    )
    holdout_share: float = Field(
        default=0.0, ge=0, lt=1, description="Share of entities in the no_model holdout arm."
    )
    salt: str | None = Field(
        default=None,
        min_length=1,
        description="Salt of the assignment hash (default: '<model>:v<challenger version>', a new split per experiment).",
    )
    no_model_default: str | int | float | bool | None = Field(
        default=None,
        description="The value written as the prediction for no_model entities (the business default, "
        "e.g. 0 = no retention offer); required when holdout_share > 0.",
    )
    outcomes: OutcomesSection | None = Field(
        default=None, description="Where the observed outcomes come from (required when enabled)."
    )
    decision: AbDecisionSection = Field(default_factory=AbDecisionSection)
    on_new_challenger: Literal["wait", "replace"] = Field(
        default="wait",
        description="A newer challenger passing the gate mid-experiment: 'wait' until the experiment ends, "
        "or 'replace' it (the running experiment ends as 'replaced').",
    )

    @model_validator(mode="after")
    def _shares(self) -> AbTestSection:
        total = self.challenger_share + self.holdout_share
        if total > 1 + 1e-9:
            raise ValueError(
                f"challenger_share ({self.challenger_share:g}) + holdout_share ({self.holdout_share:g}) = "
                f"{total:g}: the shares must sum to at most 1 (the champion arm gets the rest)"
            )
        if self.holdout_share > 0 and self.no_model_default is None:
            raise ValueError(
                "no_model_default is required when holdout_share > 0: it is the value written instead of "
                "a prediction for the no_model arm"
            )
        if self.enabled and self.outcomes is None:
            raise ValueError("outcomes is required when the A/B test is enabled: the test is judged on them")
        return self

    @property
    def shares(self) -> dict[str, float]:
        """{arm: share} of the three arms (champion gets the rest)."""
        champion = max(0.0, 1.0 - self.challenger_share - self.holdout_share)
        return {"champion": champion, "challenger": self.challenger_share, "no_model": self.holdout_share}

    def salt_for(self, model: str, challenger_version: int) -> str:
        """The assignment salt of an experiment of `challenger_version` (the configured one, or derived)."""
        return self.salt or f"{model}:v{int(challenger_version)}"


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
        default=None,
        ge=1,
        description="Items expire this long after `ttl_from` (their write time by default); none: never.",
    )
    ttl_from: Literal["write_time", "data_time"] = Field(
        default="write_time",
        description=(
            "What `ttl_days` counts from: `write_time` (the run's scored-at time, so a backfilled item "
            "lives ttl_days from when it was written) or `data_time` (the scored window's end: a backfill "
            "older than ttl_days writes items that are already expired)."
        ),
    )
    ttl_attribute: str = Field(default="expires_at", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    create_if_missing: bool = Field(
        default=True, description="Create the table (on-demand, configured keys, TTL) when it does not exist."
    )
    mode: Literal["upsert", "snapshot"] = Field(
        default="upsert",
        description="`upsert`: BatchWriteItem into the table. `snapshot`: a full load per run, written as "
        "DynamoDB JSON to `export_uri` and imported (ImportTable) into a new table per run; `table` then "
        "holds only the pointer to the current one.",
    )
    export_uri: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="Snapshot mode: the s3://bucket/prefix the scorer writes DynamoDB JSON (gzip) under.",
    )
    export_conn_id: str | None = Field(
        default=None,
        min_length=1,
        description="Snapshot mode: Airflow AWS connection for S3 (default: conn_id).",
    )
    retention_hours: float = Field(
        default=48, ge=0, description="Snapshot mode: a replaced per-run table is dropped this long after."
    )
    import_poll_s: int = Field(
        default=30, ge=1, le=3600, description="Snapshot mode: DescribeImport interval."
    )
    import_timeout_min: int = Field(
        default=360, ge=1, description="Snapshot mode: how long the deferred task waits for the import."
    )
    chunk_rows: int = Field(default=50_000, ge=100, le=5_000_000, description="Rows scored per chunk.")
    writers: int = Field(default=8, ge=1, le=64, description="Parallel BatchWriteItem threads.")
    max_attempts: int = Field(default=10, ge=1, le=50, description="Tries per batch before giving up.")
    lock_wait_min: int = Field(
        default=60,
        ge=1,
        le=1440,
        description=(
            "Upsert runs of one model write one at a time (the scoring lock, docs/concepts/concurrency.md): "
            "how long a run waits for the lock before failing (retryably)."
        ),
    )
    window: Literal["current"] = Field(
        default="current",
        description="What is scored: `current` = the run's validated data interval (latest row per entity).",
    )
    conn_id: str = Field(default="aws_default", min_length=1, description="Airflow AWS connection id.")

    @model_validator(mode="after")
    def _distinct_keys(self) -> InferenceSection:
        if self.layout == "history" and self.sort_key == self.partition_key:
            raise ValueError("sort_key must differ from partition_key")
        if self.mode == "snapshot" and self.export_uri is None:
            raise ValueError(
                "mode 'snapshot' needs export_uri (the s3://bucket/prefix ImportTable reads from)"
            )
        return self


AlertKind = Literal[
    "drift",
    "metric_drop",
    "validation_failed",
    "not_evaluated",
    "task_failed",
    "budget",
    "experiment_decided",
    "approval_waiting",
    "freshness_missed",
]
# What `threshold` means per kind (kinds not listed take no threshold).
ALERT_THRESHOLDS = {
    "drift": "drift share strictly above",
    "metric_drop": "live metric drop (absolute) at least",
    "budget": "fraction of the budget spent at least",
    "not_evaluated": "consecutive not-evaluated runs at least",
}


class SmtpChannel(Strict):
    """E-mail through an Airflow SMTP connection (host, port, login and password live there)."""

    type: Literal["smtp"]
    conn_id: str = Field(default="smtp_default", min_length=1)
    to: list[str] = Field(min_length=1)
    from_email: str | None = Field(default=None, description="Default: the connection's from_email.")


class SlackChannel(Strict):
    """Slack incoming webhook: an Airflow HTTP connection whose host (and password) hold the webhook URL."""

    type: Literal["slack"]
    conn_id: str = Field(min_length=1)


class WebhookChannel(Strict):
    """A JSON POST of the alert to an Airflow HTTP connection (+ `endpoint`)."""

    type: Literal["webhook"]
    conn_id: str = Field(min_length=1)
    endpoint: str = ""


Channel = Annotated[SmtpChannel | SlackChannel | WebhookChannel, Field(discriminator="type")]


class AlertRule(Strict):
    """Send alerts of one kind (above a threshold, where the kind has one) to channels."""

    name: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_\-]{0,62}$", description="Default: the kind."
    )
    on: AlertKind
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="drift: share of drifted columns above; metric_drop: drop at least; budget: "
        "fraction at least; not_evaluated: streak at least. Other kinds take none.",
    )
    notify: list[str] = Field(min_length=1, description="Channel names from alerts.channels.")

    @property
    def rule_name(self) -> str:
        return self.name or self.on

    @model_validator(mode="after")
    def _threshold_fits(self) -> AlertRule:
        if self.threshold is not None and self.on not in ALERT_THRESHOLDS:
            raise ValueError(f"alerts of kind {self.on!r} take no threshold")
        if self.on == "drift" and self.threshold is not None and self.threshold >= 1:
            raise ValueError("a drift share threshold must be below 1")
        return self


class FreshnessObjective(Strict):
    """When a run's outputs must exist: an Airflow Deadline Alert on the pipeline DAG."""

    predictions_by: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM UTC on the day after the run's (daily) data interval, e.g. 06:00.",
    )
    notify: list[str] = Field(min_length=1, description="Channel names from alerts.channels.")


class AlertsSection(Strict):
    """Where alerts go: named channels (secrets in Airflow connections) and rules routing kinds to them."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=list)
    freshness: FreshnessObjective | None = None

    @model_validator(mode="after")
    def _known_channels(self) -> AlertsSection:
        names = [rule.rule_name for rule in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique (give 'name' to rules of the same kind): {dupes}")
        used = [c for rule in self.rules for c in rule.notify]
        if self.freshness is not None:
            used += self.freshness.notify
        unknown = sorted(set(used) - set(self.channels))
        if unknown:
            raise ValueError(f"notify names channels not in alerts.channels: {unknown}")
        return self


class PriceTable(Strict):
    """Prices per unit (the `cost.currency`). Defaults: AWS us-east-1 on-demand list prices (2025).

    `vcpu_hour` / `memory_gb_hour`: Fargate's per-vCPU and per-GB prices; `gpu_hour`: per GPU by the
    GPU type of `training.kubernetes.resources.gpu_type` (the instance price divided by its GPUs:
    g4dn T4, g5 A10G, p4d A100, p5 H100), `default` for any other type; DynamoDB on-demand per
    million write / read request units and per GB imported from S3; S3 Standard per GB-month and per 1,000 PUT / GET requests.
    """

    vcpu_hour: float = Field(default=0.04048, ge=0)
    memory_gb_hour: float = Field(default=0.004445, ge=0)
    gpu_hour: dict[str, float] = Field(
        default_factory=lambda: {
            "default": 1.006,
            "NVIDIA-T4": 0.526,
            "NVIDIA-A10G": 1.006,
            "NVIDIA-A100": 4.096,
            "NVIDIA-H100": 12.29,
        },
        description="Price per GPU-hour by GPU type; `default` prices a type not listed.",
    )
    dynamodb_write_million: float = Field(default=0.625, ge=0, description="Per million write request units.")
    dynamodb_read_million: float = Field(default=0.125, ge=0, description="Per million read request units.")
    dynamodb_import_gb: float = Field(
        default=0.15,
        ge=0,
        description="Per GB of uncompressed source data an import from S3 (ImportTable, snapshot mode) processes.",
    )
    s3_gb_month: float = Field(default=0.023, ge=0)
    s3_put_thousand: float = Field(default=0.005, ge=0, description="Per 1,000 PUT/COPY/POST/LIST requests.")
    s3_get_thousand: float = Field(default=0.0004, ge=0, description="Per 1,000 GET requests.")

    @field_validator("gpu_hour")
    @classmethod
    def _gpu_prices(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if v < 0)
        if bad:
            raise ValueError(f"GPU prices must be >= 0: {bad}")
        if "default" not in value:
            raise ValueError("give a `default` price for GPU types not listed")
        return value


class WorkerShare(Strict):
    """The Airflow worker a local task runs on: a task is charged its share (vcpu / slots, memory / slots)."""

    vcpu: float = Field(default=4.0, gt=0)
    memory_gb: float = Field(default=16.0, gt=0)
    slots: int = Field(default=16, ge=1, description="Task slots of the worker (Celery concurrency).")


class CostSection(Strict):
    """Cost per task into the cost ledger, a monthly budget that alerts, and ROI against the holdout."""

    enabled: bool = True
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    prices: PriceTable = Field(default_factory=PriceTable)
    worker: WorkerShare = Field(default_factory=WorkerShare)
    monthly_budget: float | None = Field(
        default=None, gt=0, description="Budget per calendar month (UTC); none: no budget alerts."
    )
    alert_fractions: list[float] = Field(
        default_factory=lambda: [0.8, 1.0],
        description="A `budget` alert when the month's cost first reaches each fraction of the budget.",
    )
    value_per_event: float | None = Field(
        default=None,
        description="Business value of one unit of KPI uplift per event (e.g. per retained customer); "
        "none: ROI is not computed.",
    )
    roi_confidence: float = Field(default=0.95, gt=0.5, lt=1)
    opencost_conn_id: str | None = Field(
        default=None,
        min_length=1,
        description="Airflow HTTP connection of an OpenCost API: its allocation for a training pod "
        "replaces the estimate.",
    )

    @field_validator("alert_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(f <= 0 or f > 10 for f in value):
            raise ValueError("each fraction must be in (0, 10]")
        return sorted(set(value))


# --- compute engine -------------------------------------------------------------------------


class SparkSettings(Strict):
    """Where the spark engine's jobs run (compute.engine: spark)."""

    master: str = Field(
        default="local[2]",
        min_length=1,
        description="Spark master URL, e.g. local[2], spark://host:7077, k8s://https://api:443.",
    )
    conn_id: str | None = Field(
        default=None, description="Airflow Spark connection for SparkSubmitOperator (default: master)."
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Spark configuration, e.g. {spark.executor.memory: 4g}."
    )


class ComputeSection(Strict):
    """Where load, validate, drift and score run (training keeps its own pod or process)."""

    engine: Literal["pandas", "duckdb", "spark"] = Field(
        default="pandas",
        description="pandas: in memory on the worker (small data); duckdb: out-of-core on one worker "
        "within memory_limit_mb; spark: a Spark cluster (see docs/how-to/scale-engines.md).",
    )
    memory_limit_mb: int | None = Field(
        default=None,
        ge=64,
        description="duckdb: the engine's memory limit (SET memory_limit); beyond it, work spills "
        "to temp_directory. Default: DuckDB's own (80% of RAM).",
    )
    temp_directory: str | None = Field(
        default=None,
        description="duckdb: where spilled data goes (default: DRIFTLINE_HOME/duckdb_tmp).",
    )
    threads: int | None = Field(default=None, ge=1, le=256, description="duckdb: worker threads.")
    exact_below_rows: int = Field(
        default=200_000,
        ge=0,
        description="Drift on an out-of-core engine: a column with at most this many rows on "
        "both sides is tested on its values (as the pandas engine does); above it, on aggregates.",
    )
    spark: SparkSettings = Field(default_factory=SparkSettings)

    @model_validator(mode="after")
    def _duckdb_settings(self) -> ComputeSection:
        if self.engine != "duckdb":
            given = [
                name
                for name in ("memory_limit_mb", "temp_directory", "threads")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} apply to compute.engine duckdb (engine is {self.engine!r})"
                )
        return self


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
