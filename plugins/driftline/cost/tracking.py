"""The run's cost in MLflow: experiment `driftline/<model>/cost`, one MLflow run per Airflow run.

The run is found by its tags (`airflow.dag_id`, `airflow.run_id`), so a retried reporting step
logs into the same MLflow run; the totals go in one `log_batch` call (metrics `cost.<kind>` and
`cost.total`, the currency as a param-like tag).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol


class _Store(Protocol):
    @property
    def client(self) -> Any: ...

    def get_or_create_experiment(self, name: str) -> str: ...


def cost_experiment(model: str) -> str:
    return f"driftline/{model}/cost"


def log_run_cost(
    store: _Store,
    model: str,
    dag_id: str,
    run_id: str,
    totals: Mapping[str, float],
    *,
    currency: str = "USD",
    extra: Mapping[str, float] | None = None,
) -> str:
    """Log `totals` (and `extra` metrics) to the Airflow run's MLflow cost run; returns its MLflow run id."""
    from mlflow.entities import Metric, RunTag

    client = store.client
    experiment_id = store.get_or_create_experiment(cost_experiment(model))
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`airflow.dag_id` = '{_q(dag_id)}' and tags.`airflow.run_id` = '{_q(run_id)}'",
        max_results=1,
    )
    if found:
        mlflow_run_id = str(found[0].info.run_id)
    else:
        run = client.create_run(
            experiment_id,
            run_name=f"cost {run_id}",
            tags={"airflow.dag_id": dag_id, "airflow.run_id": run_id, "driftline.model": model},
        )
        mlflow_run_id = str(run.info.run_id)
    now = int(time.time() * 1000)
    metrics = [Metric(f"cost.{kind}", float(v), now, 0) for kind, v in sorted(totals.items())]
    metrics += [Metric(k, float(v), now, 0) for k, v in sorted((extra or {}).items())]
    client.log_batch(mlflow_run_id, metrics=metrics, tags=[RunTag("driftline.currency", currency)])
    client.set_terminated(mlflow_run_id)
    return mlflow_run_id


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
