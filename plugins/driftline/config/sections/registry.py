"""The `registry` section: the gate's metric and rule, and approvals."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict


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
