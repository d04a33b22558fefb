"""Publish a run's metrics (driftline.monitoring) and raise the threshold alerts they cross.

Called by `publish_summary` (RunSummaryOperator) with the run summary. Stage durations come from
the XCom every step pushes when it finishes (`driftline.factory.steplog.finish_step`); cost from
the cost ledger (`cost_metrics`); metrics go to MLflow and to Airflow's `Stats`
(StatsD or OpenTelemetry, as `[metrics]` configures it) with the model as a tag.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from driftline.config.models import ModelConfig

log = logging.getLogger(__name__)

DURATION_XCOM_KEY = "driftline.duration_s"


def stage_durations(ti: Any, stages: tuple[str, ...]) -> tuple[dict[str, float], dt.datetime | None]:
    """Seconds each stage of this run took, and when the first of them started.

    Stages that did not finish successfully are absent.
    """
    out: dict[str, float] = {}
    starts: list[dt.datetime] = []
    for stage in stages:
        value = ti.xcom_pull(task_ids=stage, key=DURATION_XCOM_KEY)
        if isinstance(value, dict) and isinstance(value.get("seconds"), int | float):
            out[stage] = float(value["seconds"])
            starts.append(dt.datetime.fromisoformat(str(value["started"])))
    return out, min(starts, default=None)


def cost_metrics(config: ModelConfig, dag_id: str, run_id: str) -> dict[str, float]:
    """The run's cost so far by kind and `total` (driftline.cost's ledger), for a model with `cost`.

    Every task before publish_summary has recorded its try by then (`RecordTaskCost` runs as its
    success callback); publish_summary's own seconds are not in it.
    """
    if config.cost is None:
        return {}
    from driftline.cost.ledger import Ledger

    return Ledger().run_totals(config.model.name, run_id)


def publish_run_metrics(
    config: ModelConfig, context: Any, summary: dict[str, Any], stages: tuple[str, ...]
) -> str:
    """Record the run's metrics and emit the drift / metric-drop alerts; returns the MLflow run id."""
    from airflow.sdk.observability.stats import Stats

    from driftline.hooks.mlflow import MlflowHook
    from driftline.monitoring import record_run_metrics, run_metrics

    ti = context["ti"]
    durations, started = stage_durations(ti, stages)
    metrics, params = run_metrics(summary, durations, cost_metrics(config, ti.dag_id, ti.run_id))
    if started is not None:  # from the first stage's start to now (the wait for data not included)
        metrics["run_duration_s"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 3)
    mlflow_run = record_run_metrics(
        config.model.name,
        ti.run_id,
        metrics,
        store=MlflowHook(config.registry.mlflow_conn_id),
        stats=Stats,
        params=params,
        tags={"airflow.dag_id": ti.dag_id},
    )
    log.info("run metrics of %s recorded (MLflow run %s): %s", config.model.name, mlflow_run, metrics)
    threshold_alerts(config, metrics, params, {"dag_id": ti.dag_id, "run_id": ti.run_id})
    return mlflow_run


def threshold_alerts(
    config: ModelConfig, metrics: dict[str, float], params: dict[str, str], run: dict[str, Any]
) -> None:
    """`drift` and `metric_drop` alerts: when the run's detectors fired, or a rule's threshold is crossed."""
    from driftline.alerting import AlertEvent, emit_alert
    from driftline.alerting.rules import matching_rules

    model = config.model.name
    rules = config.alerts
    share = metrics.get("drift_share")
    if share is not None:
        columns = [c for c in params.get("drifted_columns", "").split(",") if c]
        details: dict[str, Any] = {
            "share": share,
            "drifted_columns": columns,
            "threshold": config.drift.drift_share,
        }
        detected = bool(metrics.get("dataset_drift"))
        if detected or (rules is not None and matching_rules(rules, "drift", details)):
            emit_alert(
                AlertEvent(
                    model=model,
                    kind="drift",
                    severity="warning",
                    message=f"{len(columns)} drifted column(s), share {share:.2f}: " + ", ".join(columns),
                    details=details,
                    run=run,
                )
            )
    drop = metrics.get("live_metric_drop")
    if drop is not None:
        details = {
            "drop": drop,
            "live": metrics.get("live_metric"),
            "metric": params.get("live_metric_name"),
            "tolerance": config.drift.concept.tolerance,
        }
        detected = drop >= config.drift.concept.tolerance
        if detected or (rules is not None and matching_rules(rules, "metric_drop", details)):
            emit_alert(
                AlertEvent(
                    model=model,
                    kind="metric_drop",
                    severity="warning",
                    message=f"live {details['metric']} dropped by {drop:.3f} to {details['live']}",
                    details=details,
                    run=run,
                )
            )
