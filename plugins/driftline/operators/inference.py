"""ScoreAndWriteOperator: score the run's validated window with the champion and upsert to DynamoDB."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from driftline.assets import predictions
from driftline.config.models import ModelConfig
from driftline.operators.base import DriftlineOperator, run_identity, run_interval, run_params

if TYPE_CHECKING:
    from driftline.inference.arms import ArmPlan

log = logging.getLogger(__name__)


class ScoreAndWriteOperator(DriftlineOperator):
    """Batch inference after the gate: `models:/<name>@champion`, resolved once to a version.

    :param model_config: the model's validated config (its `inference` section is required).
    :param snapshot: validate_current's output, the validated current window (templated).

    Skipped (visibly) when the run param `skip_inference` is true, or when the model has no
    champion yet. Returns driftline.inference.batch.InferenceResult: the version used, counts,
    retries, consumed write units. Fails with the number of unwritten items when the writer's
    retries run out; a retry of the task reuses the run's recorded version and overwrites the
    same keys.
    """

    template_fields = ("snapshot",)
    ui_color = "#e5dcf5"

    def __init__(self, *, model_config: ModelConfig, snapshot: Any, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [predictions(model_config.model.name)])
        super().__init__(model_config=model_config, **kwargs)
        self.snapshot = snapshot

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.exceptions import ConfigError

        config = self.model_config
        cfg = config.inference
        if cfg is None:
            raise ConfigError(f"task {self.task_id}", ["inference: this model has no inference section"])
        if run_params(context).skip_inference:
            raise AirflowSkipException("skipped: the run param skip_inference is true, nothing was scored")
        if not isinstance(self.snapshot, dict):
            raise ConfigError(
                f"task {self.task_id}",
                [f"snapshot: expected validate_current's snapshot payload, got {self.snapshot!r}"],
            )
        from driftline.hooks.dynamodb import DriftlineDynamoDBHook
        from driftline.hooks.mlflow import MlflowHook
        from driftline.inference.batch import run_batch_inference
        from driftline.registry.champion import CHAMPION, get_champion

        mlflow_hook = MlflowHook(config.registry.mlflow_conn_id)
        name = config.registered_model_name
        champion = get_champion(mlflow_hook, name)
        if champion is None:
            raise AirflowSkipException(
                f"skipped: registered model {name!r} has no {CHAMPION!r} yet, nothing to score with"
            )
        log.info("scoring with models:/%s@%s = version %s", name, CHAMPION, champion.version)

        def load_model(version: int) -> Any:
            from driftline.registry.models import load_sklearn_model

            mlflow_hook.client  # noqa: B018 - sets MLflow's tracking and registry URIs
            return load_sklearn_model(f"models:/{name}/{version}")

        identity = run_identity(context)
        start, end = run_interval(context)
        plan = self._experiment(mlflow_hook, champion.version, f"{identity.dag_id}/{identity.run_id}", start)
        hook = DriftlineDynamoDBHook(aws_conn_id=cfg.conn_id, writers=cfg.writers)
        result = run_batch_inference(
            hook.client,
            config,
            self.snapshot,
            run_id=identity.run_id,
            data_time=end,
            champion_version=champion.version,
            load_model=load_model,
            alias=CHAMPION,
            experiment=plan,
        )
        log.info(
            "wrote %d prediction(s) of version %s to %s (%d kept newer, %d retries, %.1f WCU) in %.1fs",
            result["written"],
            result["model_version"],
            result["table"],
            result["kept_newer"],
            result["retries"],
            result["consumed_wcu"],
            result["seconds"],
        )
        if "arms" in result:
            log.info("A/B experiment #%s: items per arm %s", result["experiment_id"], result["arms"])
        return dict(result)

    def _experiment(
        self, mlflow_hook: Any, champion_version: int, op_key: str, data_start: Any
    ) -> ArmPlan | None:
        """The running A/B experiment's arms (ab_test enabled), after the lifecycle's checks: a
        vanished challenger stops the experiment (an alert says so) and this run scores champion only."""
        from driftline.alerts import AlertEvent, emit_alert
        from driftline.experiments.lifecycle import ab_section, experiment_for_inference
        from driftline.inference.arms import ArmPlan

        if ab_section(self.model_config) is None:
            return None
        seen = experiment_for_inference(
            mlflow_hook.client,
            self.model_config,
            champion_version=champion_version,
            op_key=op_key,
            started_at=data_start,
        )
        for note in seen.notes:
            log.warning("%s", note)
        if seen.stopped is not None:
            emit_alert(
                AlertEvent(
                    model=self.model_config.model.name,
                    kind="experiment_decided",
                    severity="error",
                    message=seen.stopped.end_reason,
                    details={"experiment": seen.stopped.to_dict()},
                    run={"op_key": op_key},
                )
            )
        return ArmPlan.from_experiment(seen.experiment) if seen.experiment is not None else None
