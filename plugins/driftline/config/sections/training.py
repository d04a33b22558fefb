"""The `training` section: the estimator, the split, and where training runs (local or a pod)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict


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
