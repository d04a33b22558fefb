"""The `cost` section: price tables, worker shares and budgets."""

from __future__ import annotations

from pydantic import Field, field_validator

from driftline.config.sections.base import Strict


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
