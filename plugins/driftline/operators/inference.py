"""ScoreAndWriteOperator: score the run's validated window with the champion and upsert to DynamoDB."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from driftline.assets import predictions
from driftline.config.models import ModelConfig
from driftline.operators.base import DriftlineOperator, run_identity, run_interval, run_params

if TYPE_CHECKING:
    from driftline.hooks.dynamodb import DriftlineDynamoDBHook
    from driftline.inference.arms import ArmPlan

log = logging.getLogger(__name__)


@contextlib.contextmanager
def unreachable_as_error(hook: DriftlineDynamoDBHook) -> Iterator[None]:
    """An endpoint that refuses connections becomes an error naming the connection (a retry may fix it)."""
    from botocore.exceptions import EndpointConnectionError

    from driftline.inference.errors import InferenceError

    try:
        yield
    except EndpointConnectionError as exc:
        raise InferenceError(
            f"cannot reach DynamoDB at {hook.endpoint()} through the Airflow connection {hook.aws_conn_id!r} "
            f"({hook.field}): {exc}; locally, is the DynamoDB endpoint (`make up`, port 4566) running?"
        ) from exc


def champion_for_scoring(hook: Any, config: ModelConfig, data_time: dt.datetime) -> tuple[Any, str]:
    """The version that scores data up to `data_time`, and a sentence saying how it was found.

    The champion as of that data time from the registry's audit trail (the version that was
    champion then, operators.drift_records.champion_for_data_time), not today's: a March backfill is
    scored by March's champion. A promotion applies from the data time of the run that made it,
    and to that run's own scoring too (its gate runs before score_and_write), hence "as of"
    includes changes made at `data_time` itself. A model whose champion alias has no audit trail
    (set outside Driftline) is scored by the live champion, and the sentence says so.

    A backfill of data older than the first promotion (no champion as of its data time, though one
    exists now) is scored by the first champion there ever was, and the sentence says so: in order,
    that day's run would have trained the first model; skipping it would leave its entities with no
    prediction at all. (Its own gate cannot promote: a champion from newer data exists,
    registry.promotion.refuse_stale.)
    """
    from driftline.operators.drift_records import champion_for_data_time
    from driftline.registry.champion import first_champion

    champion, how = champion_for_data_time(hook, config, data_time + dt.timedelta(microseconds=1))
    if champion is not None or not how.startswith("no champion as of"):  # none at all, or deleted
        return champion, how
    first, first_how = first_champion(hook, config.registered_model_name)
    if first is None:
        return None, how
    return first, f"{how}: data older than the first promotion is scored by {first_how}"


class ScoreAndWriteOperator(DriftlineOperator):
    """Batch inference after the gate: the champion as of the run's data time, resolved once to a version.

    :param model_config: the model's validated config (its `inference` section is required).
    :param snapshot: validate_current's output, the validated current window (templated).

    In snapshot mode (`inference.mode: snapshot`) the items are exported to S3 and imported into a
    new table per run (driftline.inference.snapshot); the task defers to DynamoDBImportTrigger while
    ImportTable runs and, once it completes, switches the pointer and drops retired tables. A
    running A/B experiment's arms are scored in both modes alike (recorded with the run's decision).

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
        from driftline.registry.champion import CHAMPION

        hook = DriftlineDynamoDBHook(aws_conn_id=cfg.conn_id, writers=cfg.writers)
        hook.client  # noqa: B018 - a connection without a region fails here, before any work
        mlflow_hook = MlflowHook(config.registry.mlflow_conn_id)
        name = config.registered_model_name
        start, end = run_interval(context)
        champion, how = champion_for_scoring(mlflow_hook, config, end)
        if champion is None:
            raise AirflowSkipException(
                f"skipped: registered model {name!r} has no {CHAMPION!r} for data up to {end.isoformat()} "
                f"({how}), nothing to score with"
            )
        from driftline.config.checks import raise_config_problems
        from driftline.registry.signature import serving_problems

        # a config whose features the champion was not trained on: a config error naming the file and
        # the columns (was sklearn's bare "columns are missing" after the writes began)
        raise_config_problems(config, serving_problems(mlflow_hook, config, champion.version))
        log.info("scoring data up to %s with %s version %s: %s", end.isoformat(), name, champion.version, how)

        def load_model(version: int) -> Any:
            from driftline.registry.models import load_model_version

            return load_model_version(mlflow_hook, name, version, config)

        identity = run_identity(context)
        plan = self._experiment(mlflow_hook, champion.version, f"{identity.dag_id}/{identity.run_id}", start)
        if cfg.mode == "snapshot":
            return self._start_snapshot(context, hook, end, champion.version, load_model, plan)
        with unreachable_as_error(hook):
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
            self._record_served(mlflow_hook, context, result)
        return dict(result)

    def _record_served(self, mlflow_hook: Any, context: Any, result: Any) -> None:
        """Tell the experiment what this run served per arm (only served data times are evaluated)."""
        from driftline.experiments.store import record_served

        identity = run_identity(context)
        start, end = run_interval(context)
        record_served(
            mlflow_hook.client,
            self.model_config.registered_model_name,
            int(result["experiment_id"]),
            data_start=start,
            data_end=end,
            arms=dict(result["arms"]),
            op_key=f"{identity.dag_id}/{identity.run_id}",
        )

    def _start_snapshot(
        self,
        context: Any,
        hook: DriftlineDynamoDBHook,
        end: dt.datetime,
        version: int,
        load_model: Callable[[int], Any],
        plan: ArmPlan | None,
    ) -> dict[str, Any]:
        from driftline.inference.snapshot_run import start_snapshot_run
        from driftline.objectstore import object_path
        from driftline.registry.champion import CHAMPION
        from driftline.triggers.dynamodb_import import DynamoDBImportTrigger

        cfg = self.model_config.inference
        assert cfg is not None  # noqa: S101 - narrows the type: the factory adds this task only with an inference section
        s3_conn = cfg.export_conn_id or cfg.conn_id
        with unreachable_as_error(hook):
            start = start_snapshot_run(
                hook.client,
                self.model_config,
                self.snapshot,
                run_id=run_identity(context).run_id,
                data_time=end,
                champion_version=version,
                load_model=load_model,
                path_of=lambda uri: object_path(uri, s3_conn),
                alias=CHAMPION,
                experiment=plan,
            )
        log.info(
            "import %s into %s: %s (%d item(s) exported to %s%s)",
            start["import_arn"],
            start["table"],
            start["import_status"],
            start["export_items"],
            start["export_uri"],
            ", found from an earlier try" if start["resumed"] else "",
        )
        if start["resumed"] and start["import_status"] != "IN_PROGRESS":
            return self.finish_snapshot(context, dict(start))  # a retry of a finished (or failed) import
        # a new import always defers: on AWS it takes minutes, and the trigger's first poll sees a fast one
        self.defer(
            trigger=DynamoDBImportTrigger(
                import_arn=start["import_arn"],
                aws_conn_id=cfg.conn_id,
                waiter_delay=cfg.import_poll_s,
                waiter_max_attempts=max(1, cfg.import_timeout_min * 60 // cfg.import_poll_s),
            ),
            method_name="execute_complete",
            kwargs={"start": dict(start)},
        )
        raise AssertionError("defer() returned")  # pragma: no cover - defer always raises

    def execute_complete(
        self, context: Any, event: dict[str, Any], start: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The trigger's event: check the import, switch the pointer, drop old tables.

        On an error event the import is described again: a FAILED/CANCELLED import fails the task
        for good (ImportFailedError names DynamoDB's reason), one still running after the wait's
        attempts fails it retryably (the retry finds the same import and waits again).

        Without `start`: Airflow 3.3's `dag.test()` (so `driftline run` and the demo) resumes a
        deferred task with the trigger's event only, not the kwargs it deferred with (the triggerer
        merges both). The run record holds the run's decision and its import, so the task resumes
        as a retry does: `execute` finds the recorded import and finishes it (or waits again).
        """
        if start is None:
            log.info("resumed without the deferral's kwargs: finishing the import recorded for this run")
            return self.execute(context)
        if event.get("status") != "success":
            log.warning("waiting for import %s ended: %s", start["import_arn"], event.get("message"))
        return self.finish_snapshot(context, start)

    def finish_snapshot(self, context: Any, start: dict[str, Any]) -> dict[str, Any]:
        from driftline.hooks.dynamodb import DriftlineDynamoDBHook
        from driftline.inference.snapshot_run import finish_snapshot_run

        cfg = self.model_config.inference
        assert cfg is not None  # noqa: S101 - narrows the type: the factory adds this task only with an inference section
        hook = DriftlineDynamoDBHook(aws_conn_id=cfg.conn_id)
        with unreachable_as_error(hook):
            result = finish_snapshot_run(hook.client, self.model_config, start)
        log.info(
            "imported %d prediction(s) of version %s into %s; pointer %s (dropped %s)",
            result["written"],
            result["model_version"],
            result["table"],
            "switched" if result["switched"] else "kept at newer data",
            result["dropped_tables"] or "none",
        )
        if "arms" in result:
            log.info("A/B experiment #%s: items per arm %s", result["experiment_id"], result["arms"])
            from driftline.hooks.mlflow import MlflowHook

            self._record_served(MlflowHook(self.model_config.registry.mlflow_conn_id), context, result)
        return dict(result)

    def _experiment(
        self, mlflow_hook: Any, champion_version: int, op_key: str, data_start: Any
    ) -> ArmPlan | None:
        """The running A/B experiment's arms (ab_test enabled), after the lifecycle's checks: a
        vanished challenger stops the experiment (an alert says so) and this run scores champion only."""
        from driftline.alerting import AlertEvent, emit_alert
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
        if seen.experiment is not None:
            if not (seen.experiment.running and seen.experiment.covers(data_start)):
                log.warning(
                    "data from %s is before %s started (%s): scored by the champion only (a backfill is "
                    "scored as of its data time, docs/concepts/concurrency.md)",
                    data_start.isoformat(),
                    f"experiment #{seen.experiment.id}",
                    seen.experiment.started_at.isoformat(),
                )
                return None
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
