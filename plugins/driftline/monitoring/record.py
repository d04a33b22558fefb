"""Store a run's metrics: one MLflow run in the model's monitoring experiment, and a metrics sink.

MLflow: experiment `driftline/<model>/monitoring` (the one the retrain decisions live in; these
records carry `driftline.record = run_metrics` and no decision tag, so decision queries skip
them), one run per Airflow run (a retry reuses a finished record and replaces a half-written
one), every metric and param in one `log_batch` call. Sink: anything with Airflow's `Stats`
`gauge(stat, value, tags=...)` signature; names are `driftline.<metric>` with the model (and
the stage, for durations) as tags, which StatsD sends as InfluxDB-style tags
(`[metrics] statsd_influxdb_enabled`) and OpenTelemetry as attributes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RECORD_TAG = "driftline.record"
RECORD_VALUE = "run_metrics"
MODEL_TAG = "driftline.model"
_STAT_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def monitoring_experiment(model: str) -> str:
    """The MLflow experiment of a model's monitoring records (shared with its drift decisions)."""
    return f"driftline/{model}/monitoring"


class StatsSink(Protocol):
    """Airflow's `Stats` shape (airflow.sdk.observability.stats)."""

    def gauge(
        self,
        stat: str,
        value: float,
        rate: int | float | None = None,
        delta: bool | None = None,
        *,
        tags: dict[str, Any] | None = None,
    ) -> None: ...


class MonitoringStore(Protocol):
    """An MLflow client and experiment creation (driftline.mlflow_store.MlflowStore, the MlflowHook)."""

    @property
    def client(self) -> MlflowClient: ...

    def get_or_create_experiment(self, name: str) -> str: ...


def stat_name(metric: str) -> tuple[str, dict[str, str]]:
    """The metrics-sink name of an MLflow metric key, and the tags its name carried.

    `duration_s.<stage>` becomes `driftline.stage_duration_seconds` tagged with the stage,
    `run_duration_s` `driftline.run_duration_seconds`;
    `cost.<key>` becomes `driftline.cost_<key>`; anything else `driftline.<metric>`.
    """
    if metric.startswith("duration_s."):
        return "driftline.stage_duration_seconds", {"stage": metric.split(".", 1)[1]}
    if metric == "run_duration_s":
        return "driftline.run_duration_seconds", {}
    return "driftline." + _STAT_UNSAFE.sub("_", metric), {}


def record_run_metrics(
    model: str,
    run_id: str,
    metrics: Mapping[str, float],
    *,
    store: MonitoringStore,
    stats: StatsSink | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Record one Airflow run's metrics for `model`; returns the MLflow run id.

    `run_id` is the Airflow run id (the record's key). `tags` add MLflow tags (e.g. the dag id).
    """
    from driftline.training.tracking import as_metrics, as_params

    client = store.client
    experiment_id = store.get_or_create_experiment(monitoring_experiment(model))
    mlflow_run = _existing(client, experiment_id, run_id)
    if mlflow_run is None:
        run_tags = {
            **(tags or {}),
            RECORD_TAG: RECORD_VALUE,
            MODEL_TAG: model,
            "airflow.run_id": run_id,
        }
        created = client.create_run(experiment_id, tags=run_tags, run_name=f"run metrics {run_id}")
        mlflow_run = created.info.run_id
        client.log_batch(mlflow_run, metrics=as_metrics(dict(metrics)), params=as_params(dict(params or {})))
        client.set_terminated(mlflow_run)
    if stats is not None:
        for key, value in metrics.items():
            name, extra = stat_name(key)
            stats.gauge(name, float(value), tags={"model": model, **extra})
    return mlflow_run


def _existing(client: MlflowClient, experiment_id: str, run_id: str) -> str | None:
    """A finished record of this Airflow run (half-written ones of a crashed try are deleted)."""
    quoted = run_id.replace("'", "\\'")
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{RECORD_TAG}` = '{RECORD_VALUE}' and tags.`airflow.run_id` = '{quoted}'",
        max_results=50,
    )
    for run in runs:
        if run.info.status == "FINISHED":
            return str(run.info.run_id)
        client.delete_run(run.info.run_id)
    return None


def model_history(client: MlflowClient, model: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The model's run-metrics records since `since` (UTC), oldest first.

    Each: `{"airflow_run_id", "mlflow_run_id", "dag_id", "recorded_at" (ISO UTC), "metrics"
    {name: value}, "params" {name: text}}`. A model without records gives [].
    """
    experiment = client.get_experiment_by_name(monitoring_experiment(model))
    if experiment is None:
        return []
    filters = [f"tags.`{RECORD_TAG}` = '{RECORD_VALUE}'"]
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        filters.append(f"attributes.start_time >= {int(since.timestamp() * 1000)}")
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=" and ".join(filters),
            order_by=["attributes.start_time ASC"],
            max_results=1000,
            page_token=token,
        )
        for run in page:
            tags = run.data.tags
            out.append(
                {
                    "airflow_run_id": tags.get("airflow.run_id"),
                    "mlflow_run_id": run.info.run_id,
                    "dag_id": tags.get("airflow.dag_id"),
                    "recorded_at": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC).isoformat(),
                    "metrics": dict(run.data.metrics),
                    "params": dict(run.data.params),
                }
            )
        token = page.token
        if not token:
            return out
