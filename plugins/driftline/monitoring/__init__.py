"""Run metrics of every pipeline run: MLflow (the monitoring experiment) and Airflow's metrics.

`run_metrics(summary, ...)` turns a run summary into numbers; `record_run_metrics(...)` stores
them as one MLflow run per Airflow run (one `log_batch` call) and hands each to a StatsD/OTel
sink with the model as a tag; `model_history(client, model, since)` reads them back for pages.
The domain: no Airflow here (the operator passes Airflow's `Stats` as the sink).
"""

from __future__ import annotations

from driftline.monitoring.extract import run_metrics
from driftline.monitoring.record import (
    RECORD_TAG,
    StatsSink,
    model_history,
    monitoring_experiment,
    record_run_metrics,
    stat_name,
)

__all__ = [
    "RECORD_TAG",
    "StatsSink",
    "model_history",
    "monitoring_experiment",
    "record_run_metrics",
    "run_metrics",
    "stat_name",
]
