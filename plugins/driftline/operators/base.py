"""The base of Driftline's operators, and the facts every step reads from the run context."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, ExceptionRetryPolicy, RetryAction, RetryRule

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


def run_interval(context: Any) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval.

    A run whose interval is empty (a manual run, or a cron-trigger timetable) gets the last
    whole UTC day before its logical date: the day that has fully arrived.
    """
    start = _utc(context.get("data_interval_start"))
    end = _utc(context.get("data_interval_end"))
    if start is not None and end is not None and end > start:
        return start, end
    anchor = end or _utc(context.get("logical_date")) or dt.datetime.now(dt.UTC)
    day_end = anchor.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_end - dt.timedelta(days=1), day_end


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


class DriftlineOperator(BaseOperator):
    """A step of one model's pipeline; holds the model's validated config.

    Its default `retry_policy` is `driftline_retry_policy()`: PermanentError fails without retry.
    """

    ui_color = "#e8f1fb"

    def __init__(self, *, model_config: ModelConfig, **kwargs: Any) -> None:
        kwargs.setdefault("retry_policy", driftline_retry_policy())
        super().__init__(**kwargs)
        self.model_config = model_config
