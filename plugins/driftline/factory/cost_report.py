"""The platform's cost-report DAG, `driftline__cost_report`: daily, every model with a `cost` section.

Built by `build_all` beside the model DAGs when at least one config has a `cost` section; its one
task (`operators.cost.CostReportOperator`) writes the HTML report (table, cost over time by kind,
ROI) as an MLflow artifact and returns the figures.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from driftline.config.models import ModelConfig
from driftline.factory import ids


def build_cost_report_dag(configs: list[ModelConfig]) -> DAG:
    """The cost-report DAG over `configs` (the models with a cost section)."""
    from driftline.operators.cost import CostReportOperator

    models = sorted(c.model.name for c in configs)
    with DAG(
        dag_id=ids.cost_report_dag_id(),
        schedule="@daily",
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "driftline",
            "retries": 2,
            "retry_delay": dt.timedelta(minutes=1),
            "retry_exponential_backoff": True,
        },
        tags=["driftline", "cost"],
        doc_md=(
            "# Driftline cost report\n\nDaily: cost per model (runs, GPU-hours, cost by kind, cost per "
            "1,000 predictions, budget used) and ROI against the `no_model` holdout, as an HTML report "
            "with plots in the MLflow experiment `driftline/cost-report`.\n\nModels: "
            + ", ".join(f"`{m}`" for m in models)
        ),
        description="Cost and ROI of every Driftline model",
    ) as dag:
        CostReportOperator(
            task_id="cost_report",
            costs={c.model.name: c.cost for c in configs},
            mlflow_conn_ids={c.model.name: c.registry.mlflow_conn_id for c in configs},
        )
    return dag
