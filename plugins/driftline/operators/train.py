"""The train step: fit the model on the validated training snapshot and log it to MLflow.

`build_training_task(config, snapshot)` picks the backend from `training.backend`:

- `local`: TrainModelOperator calls `driftline.training.train()` in the worker process, with the
  MLflow client of its hook;
- `kubernetes`: `driftline.operators.train_pod.TrainPodOperator`, a KubernetesPodOperator subclass
  that Airflow runs (renders, defers, reattaches, kills) as itself. Its module is imported here only
  for such a config: the provider imports the kubernetes client, which costs seconds of parse time.

Both return the TrainResult dict: {"run_id", "experiment_id", "metrics", "snapshot_uri",
"snapshot_sha256", "trained_until", "model_uri", "metric_name", "reused"}.

This module is imported at DAG-parse time: nothing heavy is imported at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.operators.base import DriftlineOperator, run_identity
from driftline.training.errors import TrainingInputError

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator


def snapshot_uri_of(snapshot: Any) -> str:
    """The URI of a snapshot given as a SnapshotRef dict (the validate task's XCom) or a URI string."""
    if isinstance(snapshot, str) and snapshot:
        return snapshot
    if isinstance(snapshot, dict) and isinstance(snapshot.get("uri"), str):
        return snapshot["uri"]
    raise TrainingInputError(
        f"train: expected the validated snapshot (a SnapshotRef dict with 'uri', or a URI), got {snapshot!r}"
    )


class TrainModelOperator(DriftlineOperator):
    """Train on the worker (training.backend: local).

    :param snapshot: the validated training snapshot: a SnapshotRef dict or URI (templated).
    :param mlflow_conn_id: the Airflow connection of the MLflow tracking server (default: the config's
        registry.mlflow_conn_id).
    """

    template_fields: Sequence[str] = ("snapshot",)
    ui_color = "#dff0d8"

    def __init__(self, *, snapshot: Any, mlflow_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.mlflow_conn_id = mlflow_conn_id or self.model_config.registry.mlflow_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.hooks.mlflow import MlflowHook
        from driftline.training.entrypoint import train

        uri = snapshot_uri_of(self.snapshot)
        identity = run_identity(context).tags()
        store = MlflowHook(self.mlflow_conn_id).store
        expected = self.snapshot.get("sha256") if isinstance(self.snapshot, dict) else None
        result = train(
            self.model_config, uri, identity, store=store, snapshot_sha256=str(expected) if expected else None
        )
        self.log.info(
            "%s MLflow run %s: %s=%s",
            "reused" if result.reused else "trained",
            result.run_id,
            result.metric_name,
            result.metrics.get(result.metric_name),
        )
        return result.to_dict()


def build_training_task(
    config: ModelConfig, snapshot: Any, *, task_id: str = "train", **kwargs: Any
) -> BaseOperator:
    """The train task for `config.training.backend`; `snapshot` is usually `validate_training.output`."""
    if config.training.backend == "kubernetes":
        from driftline.operators.train_pod import TrainPodOperator

        return TrainPodOperator(task_id=task_id, model_config=config, snapshot=snapshot, **kwargs)
    return TrainModelOperator(task_id=task_id, model_config=config, snapshot=snapshot, **kwargs)
