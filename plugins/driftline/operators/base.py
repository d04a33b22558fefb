"""The base of Driftline's operators, and the facts every step reads from the run context."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, ExceptionRetryPolicy, RetryAction, RetryRule

from driftline.alerting.callbacks import AlertRecordNotifier
from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError


@dataclass(frozen=True)
class RunParams:
    """The trigger-form params of one run (see driftline.factory.params)."""

    force_retrain: bool = False
    window_days: int | None = None
    skip_inference: bool = False


@dataclass(frozen=True)
class RunIdentity:
    """Which Airflow run and try a step belongs to: tags and idempotency keys use it."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int

    def tags(self) -> dict[str, str]:
        return {
            "airflow.dag_id": self.dag_id,
            "airflow.run_id": self.run_id,
            "airflow.task_id": self.task_id,
            "airflow.try_number": str(self.try_number),
        }


def _utc(value: Any) -> dt.datetime | None:
    """A plain stdlib UTC datetime (Airflow hands out pendulum objects, which pandas mishandles)."""
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value.timestamp(), tz=dt.UTC)


_FROM_TASK: Any = object()


def run_interval(context: Any, cron: str | None = _FROM_TASK) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval: what its current window scores.

    A scheduled run carries its interval (the factory gives every pipeline a
    `CronDataIntervalTimetable`), and so does a manual run of a scheduled DAG (Airflow infers the
    last whole schedule interval ending at or before its logical date). A run whose interval is
    empty (a DAG with `cron: null`, or a run without a logical date) gets the same rule computed
    here from the config's schedule (`cron`, by default the task's `model_config.schedule.cron`):
    the last whole schedule interval ending at or before its logical date, or without a schedule
    the last whole UTC day: the data that has fully arrived.
    """
    from driftline.data.windows import last_whole_interval

    start = _utc(context.get("data_interval_start"))
    end = _utc(context.get("data_interval_end"))
    if start is not None and end is not None and end > start:
        return start, end
    if cron is _FROM_TASK:
        config = getattr(context.get("task"), "model_config", None)
        cron = config.schedule.cron if isinstance(config, ModelConfig) else None
    anchor = end or _utc(context.get("logical_date")) or dt.datetime.now(dt.UTC)
    return last_whole_interval(cron, anchor)


def run_params(context: Any) -> RunParams:
    params = context.get("params") or {}
    window_days = params.get("window_days")
    return RunParams(
        force_retrain=bool(params.get("force_retrain", False)),
        window_days=int(window_days) if window_days not in (None, "") else None,
        skip_inference=bool(params.get("skip_inference", False)),
    )


def run_identity(context: Any) -> RunIdentity:
    ti = context["ti"]
    return RunIdentity(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        try_number=int(getattr(ti, "try_number", 1) or 1),
    )


def driftline_retry_policy() -> ExceptionRetryPolicy:
    """How Driftline's errors map to Airflow's retries (the one place that mapping lives).

    A `PermanentError` (bad input, a failed gate, a pod that exited 2) fails the task at once;
    any other error (a source not there yet, a registry that is busy) takes the task's retries.
    The domain raises plain errors and never imports Airflow.
    """
    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=PermanentError,
                action=RetryAction.FAIL,
                reason="a Driftline PermanentError: a retry cannot fix it",
            )
        ]
    )


def driftline_failure_callbacks() -> list[Any]:
    """Every Driftline task's default `on_failure_callback`: the alert record (driftline.alerting.callbacks)
    and the failed try's cost (driftline.operators.cost)."""
    from driftline.operators.cost import RecordTaskCost

    return [AlertRecordNotifier(), RecordTaskCost()]


class DriftlineOperator(BaseOperator):
    """A step of one model's pipeline; holds the model's validated config.

    Defaults: `retry_policy=driftline_retry_policy()` (a PermanentError fails without retry) and
    `on_failure_callback=driftline_failure_callbacks()` (a failed task leaves an alert record).
    """

    ui_color = "#e8f1fb"

    def __init__(self, *, model_config: ModelConfig, **kwargs: Any) -> None:
        kwargs.setdefault("retry_policy", driftline_retry_policy())
        kwargs.setdefault("on_failure_callback", driftline_failure_callbacks())
        super().__init__(**kwargs)
        self.model_config = model_config
