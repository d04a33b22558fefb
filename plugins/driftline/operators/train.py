"""The train step: fit the model on the validated training snapshot and log it to MLflow.

`build_training_task(config, snapshot)` picks the backend from `training.backend`:

- `local`: TrainModelOperator calls `driftline.training.train()` in the worker process;
- `kubernetes`: KubernetesTrainOperator runs the same entrypoint in a pod through the real
  KubernetesPodOperator (built at execute time by `driftline.training.pod`), in the Airflow pool
  `training.kubernetes.pool` with the configured execution timeout. Deferrable mode is supported:
  the trigger re-enters `trigger_reentry`, which rebuilds the pod operator and delegates to it.

Both return the TrainResult dict: {"run_id", "experiment_id", "metrics", "snapshot_uri",
"snapshot_sha256", "trained_until", "model_uri", "metric_name", "reused"}.

This module is imported at DAG-parse time: nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.exceptions import TrainingError
from driftline.operators.base import DriftlineOperator, run_identity
from driftline.payloads import TrainingPayload
from driftline.training.errors import TrainingInputError

if TYPE_CHECKING:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk import BaseOperator


def snapshot_uri_of(snapshot: Any) -> str:
    """The URI of a snapshot given as a SnapshotRef dict (the validate task's XCom) or a URI string."""
    if isinstance(snapshot, str) and snapshot:
        return snapshot
    if isinstance(snapshot, dict) and isinstance(snapshot.get("uri"), str):
        return str(snapshot["uri"])
    raise TrainingInputError(
        f"train: expected the validated snapshot (a SnapshotRef dict with 'uri', or a URI), got {snapshot!r}"
    )


class TrainModelOperator(DriftlineOperator):
    """Train on the worker (training.backend: local).

    :param snapshot: the validated training snapshot: a SnapshotRef dict or URI (templated).
    :param mlflow_conn_id: the Airflow connection of the MLflow tracking server.
    """

    template_fields: Sequence[str] = ("snapshot",)
    ui_color = "#dff0d8"

    def __init__(self, *, snapshot: Any, mlflow_conn_id: str = "mlflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Any) -> TrainingPayload:
        from driftline.training.entrypoint import train

        uri = snapshot_uri_of(self.snapshot)
        identity = run_identity(context).tags()
        result = train(self.model_config, uri, identity, mlflow_conn_id=self.mlflow_conn_id)
        self.log.info(
            "%s MLflow run %s: %s=%s",
            "reused" if result.reused else "trained",
            result.run_id,
            result.metric_name,
            result.metrics.get(result.metric_name),
        )
        return result.to_dict()


class KubernetesTrainOperator(DriftlineOperator):
    """Train in a Kubernetes pod (training.backend: kubernetes), through the real KubernetesPodOperator.

    Pool (`training.kubernetes.pool`, one slot per GPU) and execution timeout are set here, at
    construction, so the scheduler queues GPU tasks; the pod operator itself is built in `execute`.

    :param snapshot: the validated training snapshot: a SnapshotRef dict or URI (templated). It must
        live in an object store (`data.snapshot_root: s3://...`): a pod cannot read the worker's disk.
    :param kubernetes_conn_id: the Airflow connection of the cluster.
    """

    template_fields: Sequence[str] = ("snapshot",)
    ui_color = "#d9e8fb"

    def __init__(
        self,
        *,
        snapshot: Any,
        model_config: ModelConfig,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        kube = model_config.training.kubernetes
        kwargs.setdefault("pool", kube.pool)
        kwargs.setdefault("pool_slots", max(1, kube.resources.gpu))
        kwargs.setdefault("execution_timeout", dt.timedelta(minutes=kube.execution_timeout_minutes))
        super().__init__(model_config=model_config, **kwargs)
        self.snapshot = snapshot
        self.kubernetes_conn_id = kubernetes_conn_id
        self._pod_op: KubernetesPodOperator | None = None

    def pod_operator(self, context: Any) -> KubernetesPodOperator:
        """The KubernetesPodOperator for this try (concrete identity args, no Jinja left to render)."""
        from driftline.data.snapshots import is_object_store_uri
        from driftline.training.pod import build_training_pod_operator

        uri = snapshot_uri_of(self.snapshot)
        if not is_object_store_uri(uri):
            raise TrainingInputError(
                f"training.backend is 'kubernetes' but the training snapshot {uri} is on the worker's local "
                "disk, which a pod cannot read: set data.snapshot_root to an object-store prefix "
                "(e.g. s3://bucket/driftline/snapshots) or use training.backend: local"
            )
        if not self.model_config.training.kubernetes.mlflow_secret:
            raise TrainingInputError(
                "training.kubernetes.mlflow_secret is not set: the pod would have no MLflow tracking URI "
                "and its run would be lost; name the Kubernetes Secret holding MLFLOW_TRACKING_URI"
            )
        self._pod_op = build_training_pod_operator(
            self.model_config,
            task_id=self.task_id,
            snapshot_uri_template=uri,
            identity=run_identity(context).tags(),
            kubernetes_conn_id=self.kubernetes_conn_id,
            execution_timeout=self.execution_timeout,
            pool=self.pool,
        )
        return self._pod_op

    def _checked(self, result: Any) -> dict[str, Any]:
        if not isinstance(result, dict) or "run_id" not in result:
            # e.g. the pod was garbage-collected before its XCom was read: a retry starts a pod that
            # finds the FINISHED MLflow run of this (dag_id, run_id, task_id) and returns it.
            raise TrainingError(f"training pod finished without a TrainResult in its XCom (got {result!r})")
        return result

    def execute(self, context: Any) -> dict[str, Any]:
        return self._checked(self.pod_operator(context).execute(context))

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Deferrable mode: the trigger resumes here; the rebuilt pod operator reads logs and XCom."""
        return self._checked(self.pod_operator(context).trigger_reentry(context, event))

    execute_complete = trigger_reentry

    def on_kill(self) -> None:
        if self._pod_op is not None:
            self._pod_op.on_kill()


def build_training_task(
    config: ModelConfig, snapshot: Any, *, task_id: str = "train", **kwargs: Any
) -> BaseOperator:
    """The train task for `config.training.backend`; `snapshot` is usually `validate_training.output`."""
    if config.training.backend == "kubernetes":
        return KubernetesTrainOperator(task_id=task_id, model_config=config, snapshot=snapshot, **kwargs)
    return TrainModelOperator(task_id=task_id, model_config=config, snapshot=snapshot, **kwargs)
