"""Build each model's DAG family from its config.

Per model: `driftline__<model>` (the scheduled pipeline) and `driftline__<model>__rollback`
(manual). A config that fails to load becomes one `driftline__config_error__<file>` DAG whose
page shows the file+field errors and whose only task fails with them, so the broken model is
visible in the UI while every other model's DAGs load normally.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
from airflow.sdk import DAG, BaseOperator, Param, TriggerRule
from airflow.sdk.definitions.param import ParamsDict

from driftline.config.loader import display_path, load_folder
from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError
from driftline.factory import docs, ids
from driftline.factory.params import pipeline_params, rollback_params
from driftline.factory.schedule import pipeline_timetable
from driftline.factory.steplog import finish_step, start_step

log = logging.getLogger(__name__)


def default_args(config: ModelConfig) -> dict[str, object]:
    from driftline.operators.cost import RecordTaskCost

    return {
        "owner": config.model.owner,
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        # first and last log lines of every step; a misspelled conf key fails the first task at once
        "pre_execute": start_step,
        "post_execute": finish_step,
        # each try's cost into the ledger (failures: driftline_failure_callbacks); see operators/cost.py
        "on_success_callback": [RecordTaskCost()],
        "on_retry_callback": [RecordTaskCost()],
    }


def _start_date(config: ModelConfig) -> dt.datetime:
    return dt.datetime.combine(config.schedule.start_date, dt.time(), tzinfo=dt.UTC)


def _tags(config: ModelConfig, *extra: str) -> list[str]:
    return sorted({"driftline", f"model:{config.model.name}", *config.model.tags, *extra})


def build_pipeline_dag(config: ModelConfig, path: Path) -> DAG:
    """The scheduled pipeline: load, validate, drift, decide, (train, register, gate), summary."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    from driftline.alerting.deadline import freshness_deadline
    from driftline.operators.drift import CheckDriftOperator
    from driftline.operators.load import LoadWindowOperator
    from driftline.operators.registry import EvaluationGateOperator, RegisterModelOperator
    from driftline.operators.retrain import RetrainDecisionOperator
    from driftline.operators.summary import RunSummaryOperator
    from driftline.operators.train import build_training_task
    from driftline.operators.validate import ValidateSnapshotOperator

    with DAG(
        dag_id=ids.pipeline_dag_id(config.model.name),
        schedule=pipeline_timetable(config),
        start_date=_start_date(config),
        catchup=config.schedule.catchup,
        # days waiting for their data must not block other days; the registry steps are serialised
        max_active_runs=config.schedule.max_active_runs,
        default_args=default_args(config),
        tags=_tags(config, "pipeline"),
        doc_md=docs.pipeline_doc(config, path),
        description=config.model.description or f"Driftline pipeline for {config.model.name}",
        owner_links={},
        deadline=freshness_deadline(config),
    ) as dag:
        kw: dict[str, Any] = {"model_config": config}
        load_current = LoadWindowOperator(task_id="load_current", window="current", **kw)
        if config.data.wait.enabled:
            from driftline.sensors.arrival import DataArrivalSensor

            DataArrivalSensor(task_id="wait_for_data", what="data", **kw) >> load_current
        validate_current = ValidateSnapshotOperator(
            task_id="validate_current", window="current", snapshot=load_current.output, **kw
        )
        labels = None
        if config.data.labels is not None:
            from driftline.operators.labels import LoadLabelsOperator

            load_labels = LoadLabelsOperator(task_id="load_labels", **kw)
            if config.data.wait.labels_timeout_minutes > 0:
                from driftline.sensors.arrival import DataArrivalSensor

                DataArrivalSensor(task_id="wait_for_labels", what="labels", **kw) >> load_labels
            labels = load_labels.output
        check_drift = CheckDriftOperator(
            task_id="check_drift", current=validate_current.output, labels=labels, **kw
        )
        decide = RetrainDecisionOperator(
            task_id="decide_retrain",
            drift=check_drift.output,
            retrain_task_id="load_training",
            skip_task_id="keep_champion",
            **kw,
        )
        load_training = LoadWindowOperator(task_id="load_training", window="training", **kw)
        validate_training = ValidateSnapshotOperator(
            task_id="validate_training", window="training", snapshot=load_training.output, **kw
        )
        train = build_training_task(config, validate_training.output, task_id="train")
        # registry writes: one task instance at a time across this DAG's runs (see README, concurrency)
        register = RegisterModelOperator(
            task_id="register", training=train.output, max_active_tis_per_dag=1, **kw
        )
        gate = EvaluationGateOperator(
            task_id="evaluate_gate",
            registered=register.output,
            evaluation=validate_training.output,
            max_active_tis_per_dag=1,
            **kw,
        )
        if config.registry.approval.required:
            from driftline.operators.approval import PromoteApprovedOperator, PromotionApprovalOperator

            # The gate records its verdict; a human approves; only then the alias moves. Inference
            # and the summary do not wait for the human: they use the champion as it is.
            approve = PromotionApprovalOperator(
                task_id="approve_promotion", decision=gate.output, drift=check_drift.output, **kw
            )
            promote = PromoteApprovedOperator(
                task_id="promote_challenger",
                decision=gate.output,
                approval=approve.output,
                max_active_tis_per_dag=1,
                **kw,
            )
            gate >> approve >> promote
        keep = EmptyOperator(task_id="keep_champion")
        summary = RunSummaryOperator(
            task_id="publish_summary", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **kw
        )
        decide >> [load_training, keep]
        [gate, keep] >> summary
        if config.inference is not None:
            from driftline.operators.inference import ScoreAndWriteOperator

            # Scoring waits until the champion of this run is settled (promoted by the gate or
            # kept), whatever the retrain path did: a failed retrain (a bad training window, a
            # training or registry error) fails the run and alerts, but the validated current
            # window is still scored with the champion the registry names. A failed current
            # window stops scoring (validate_current is a direct upstream, all_success).
            settled = EmptyOperator(task_id="champion_settled", trigger_rule=TriggerRule.ALL_DONE)
            score = ScoreAndWriteOperator(task_id="score_and_write", snapshot=validate_current.output, **kw)
            [gate, keep] >> settled >> score >> summary
    set_params(dag, pipeline_params(config))
    return dag


def set_params(dag: DAG, params: dict[str, Param]) -> None:
    """Give a built DAG its trigger-form params, cheaply.

    Set after the tasks exist: every operator constructed inside a DAG deep-copies the DAG's
    params (three times per Driftline operator). Tasks need no copy of their own: at run time
    Airflow merges dag.params under task.params (`process_params`). And Airflow checks a
    scheduled DAG's param defaults with jsonschema on every assignment (a metaschema check per
    param, the largest parse cost at 1000 models); the defaults are the same constants for
    every model, so they are checked once per process here and the per-DAG re-check is skipped.
    """
    key = tuple(id(p) for p in params.values())  # pipeline_params hands out cached Param objects
    if key not in _checked_params:
        ParamsDict(params).validate()  # raises ParamValidationError on a bad default
        _checked_params.add(key)
    with attrs.validators.disabled():
        dag.params = params  # type: ignore[assignment]  # attrs' converter makes it a ParamsDict


_checked_params: set[tuple[int, ...]] = set()


def build_rollback_dag(config: ModelConfig) -> DAG:
    """Manual: restore the previous (or a named) champion through the guarded promotion path and the
    promotion policy. With `registry.approval.required`, a target that never held champion nor passed
    the gate waits for an approval first (plan_rollback >> approve_rollback >> rollback)."""
    from driftline.operators.registry import PlanRollbackOperator, RollbackOperator

    with DAG(
        dag_id=ids.rollback_dag_id(config.model.name),
        schedule=None,
        start_date=_start_date(config),
        catchup=False,
        max_active_runs=1,
        default_args={**default_args(config), "retries": 2},
        tags=_tags(config, "rollback"),
        params=rollback_params(),
        doc_md=docs.rollback_doc(config),
        description=f"Roll back the champion of {config.model.name}",
    ) as dag:
        if config.registry.approval.required:
            from driftline.operators.approval import PromotionApprovalOperator

            plan = PlanRollbackOperator(task_id="plan_rollback", model_config=config)
            # skips itself when the target needs no approval (a former champion, a gate-passed version)
            approve = PromotionApprovalOperator(
                task_id="approve_rollback", model_config=config, decision=plan.output
            )
            rollback = RollbackOperator(
                task_id="rollback",
                model_config=config,
                approval=approve.output,
                trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
            )
            # rollback also hangs on plan directly: a skipped approval (nothing to approve) must not skip it
            plan >> approve >> rollback
            plan >> rollback
        else:
            RollbackOperator(task_id="rollback", model_config=config)
    return dag


class ReportConfigError(BaseOperator):
    """Fails with the config's errors: the UI's way to show a broken file."""

    ui_color = "#f7c6c5"

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: object) -> None:
        raise ConfigError("config", [self.message])


def build_config_error_dag(path: Path, error: ConfigError) -> DAG:
    path = Path(display_path(path))  # a file name that is not UTF-8 must not reach Airflow's database
    message = str(error)
    with DAG(
        dag_id=ids.config_error_dag_id(path.stem),
        dag_display_name=f"BROKEN CONFIG {path.name}",
        schedule=None,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        tags=["driftline", "config-error"],
        doc_md=docs.config_error_doc(path, message),
        description=f"BROKEN CONFIG {path.name}: {error.problems[0] if error.problems else message}"[:200],
        default_args={"owner": "driftline", "retries": 0},
    ) as dag:
        ReportConfigError(task_id="report_config_error", message=message)
    return dag


def build_ab_evaluation_dag(config: ModelConfig) -> DAG:
    """Scheduled (and manual): decide the running A/B experiment; promote (through approval) or stop."""
    from driftline.operators.experiments import CloseExperimentOperator, EvaluateExperimentOperator

    with DAG(
        dag_id=ids.ab_evaluation_dag_id(config.model.name),
        schedule=pipeline_timetable(config),
        start_date=_start_date(config),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(config),
        tags=_tags(config, "ab_test"),
        doc_md=docs.ab_evaluation_doc(config),
        description=f"Decide the A/B test of {config.model.name}",
    ) as dag:
        kw: dict[str, Any] = {"model_config": config}
        evaluate = EvaluateExperimentOperator(task_id="evaluate_experiment", max_active_tis_per_dag=1, **kw)
        from driftline.operators.approval import PromoteApprovedOperator, PromotionApprovalOperator

        approval = None
        if config.registry.approval.required:
            approve = PromotionApprovalOperator(task_id="approve_promotion", decision=evaluate.output, **kw)
            evaluate >> approve
            approval = approve.output
        promote = PromoteApprovedOperator(
            task_id="promote_challenger",
            decision=evaluate.output,
            approval=approval,
            max_active_tis_per_dag=1,
            **kw,
        )
        if approval is None:
            evaluate >> promote
        CloseExperimentOperator(
            task_id="close_experiment",
            evaluation=evaluate.output,
            promotion=promote.output,
            trigger_rule=TriggerRule.ALL_DONE,
            **kw,
        )
    return dag


def build_model_dags(config: ModelConfig, path: Path) -> list[DAG]:
    """The DAG family of one model."""
    dags = [build_pipeline_dag(config, path), build_rollback_dag(config)]
    if config.ab_test is not None and config.ab_test.enabled:
        dags.append(build_ab_evaluation_dag(config))
    return dags


def _error_dags(path: Path, error: ConfigError) -> list[DAG]:
    return [build_config_error_dag(path, error)]


def build_all(folder: Path, only_dag_id: str | None = None) -> list[DAG]:
    """Every model's DAGs from `folder`; with `only_dag_id` (a worker running one task) just that model's."""
    only_model = ids.model_from_dag_id(only_dag_id)
    loaded = load_folder(folder, only_model=only_model)
    if only_model is not None and not loaded.configs and not loaded.errors:
        loaded = load_folder(folder)  # the file is not named after its model: fall back to all
    dags: list[DAG] = []
    with_cost = [c for c in loaded.configs.values() if c.cost is not None]
    if with_cost and (only_dag_id is None or only_dag_id == ids.cost_report_dag_id()):
        from driftline.factory.cost_report import build_cost_report_dag

        dags.append(build_cost_report_dag(with_cost))
        if only_dag_id is not None:
            return dags
    for path, config in loaded.configs.items():
        if only_model is not None and config.model.name != only_model:
            continue
        dags.extend(_isolated(path, partial(build_model_dags, config, path)))
    for path, error in loaded.errors.items():
        log.error("Driftline config %s is invalid:\n%s", path, error)
        dags.extend(_isolated(path, partial(_error_dags, path, error)))
    return dags


def _isolated(path: Path, build: Callable[[], Iterable[DAG]]) -> Iterable[DAG]:
    """Run one file's build so that an unexpected error cannot take the other models down."""
    try:
        return build()
    except ConfigError as exc:
        return [build_config_error_dag(path, exc)]
    except Exception as exc:  # a bug in a builder must not drop every other model's DAGs
        log.exception("Driftline could not build DAGs for %s", path)
        return [build_config_error_dag(path, ConfigError(str(path), [f"could not build the DAG: {exc!r}"]))]
