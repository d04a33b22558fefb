"""Freshness objectives as Airflow Deadline Alerts on the pipeline DAG.

`alerts.freshness.predictions_by: "06:00"` means: the run of a daily data interval finishes (its
predictions written) by 06:00 UTC on the day after the interval. Airflow creates the deadline
with each run (logical date = the interval's start; deadline = logical date + 1 day + 06:00),
deletes it when the run finishes in time, and otherwise runs `freshness_missed` in the
triggerer, which records a `freshness_missed` alert and sends it to `alerts.freshness.notify`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

# airflow.sdk re-exports these lazily, which mypy does not see
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from driftline.config.models import ModelConfig


def freshness_interval(predictions_by: str) -> dt.timedelta:
    """From a daily run's logical date (its interval start) to HH:MM UTC the day after the interval."""
    hours, minutes = (int(part) for part in predictions_by.split(":"))
    return dt.timedelta(days=1, hours=hours, minutes=minutes)


def freshness_deadline(config: ModelConfig) -> DeadlineAlert | None:
    """The pipeline DAG's Deadline Alert for `alerts.freshness`, or None without one."""
    if config.alerts is None or config.alerts.freshness is None:
        return None
    freshness = config.alerts.freshness
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=freshness_interval(freshness.predictions_by),
        callback=AsyncCallback(
            freshness_missed,
            kwargs={
                "model": config.model.name,
                "predictions_by": freshness.predictions_by,
                "alerts": config.alerts.model_dump(mode="json"),
            },
        ),
        name=f"driftline freshness {config.model.name}",
    )


def freshness_event(context: dict[str, Any], model: str, predictions_by: str) -> Any:
    """The `freshness_missed` alert for the run in a deadline callback's context."""
    from driftline.alerting.event import AlertEvent

    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    when = deadline.get("deadline_time")
    return AlertEvent(
        model=model,
        kind="freshness_missed",
        severity="error",
        message=(
            f"run {dag_run.get('dag_run_id') or dag_run.get('run_id')} of {dag_run.get('dag_id')} had not "
            f"finished by its freshness objective predictions_by {predictions_by} UTC (deadline {when}); "
            f"state {dag_run.get('state')}"
        ),
        details={"predictions_by": predictions_by, "deadline": str(when), "state": dag_run.get("state")},
        run={
            "dag_id": dag_run.get("dag_id"),
            "run_id": dag_run.get("dag_run_id") or dag_run.get("run_id"),
            "logical_date": dag_run.get("logical_date"),
        },
    )


async def freshness_missed(
    context: dict[str, Any], model: str, predictions_by: str, alerts: dict[str, Any]
) -> None:
    """Deadline callback (runs in the triggerer): record and send the `freshness_missed` alert."""
    from driftline.alerting.record import emit_alert
    from driftline.config.models import AlertsSection

    section = AlertsSection.model_validate(alerts)
    event = freshness_event(context, model, predictions_by)
    # notifiers and connections are synchronous: keep them off the triggerer's event loop
    await asyncio.to_thread(emit_alert, event, section, context)
