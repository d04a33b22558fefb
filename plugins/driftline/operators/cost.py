"""Recording each task's cost: an Airflow task callback that runs in the task's own process.

`RecordTaskCost` is every Driftline task's `on_success_callback`, `on_retry_callback` and (beside
the alert record) `on_failure_callback`. Airflow 3 runs these callbacks in the task process right
after the try ends (`task_runner.finalize`), with `ti.start_date` / `ti.end_date` set, and a task
may not query the metadata database, so the callback needs none: the duration is the try's own,
the resources are the config's (the training pod's requests, or the worker's share), the write
units are the inference step's result. Entries go to the ledger keyed by the try, so a callback
that runs twice replaces its rows and a retried task's tries are each counted once; then the
budget is checked. The DAG's last step (no downstream task) also logs the run's totals to MLflow.

A callback's error is logged by Airflow and never fails the task: cost is reported, not enforced.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from driftline.config.models import CostSection, ModelConfig
from driftline.cost.pricing import Entry, Footprint, Usage

log = logging.getLogger(__name__)


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value.timestamp(), tz=dt.UTC)


def is_pod_task(task: Any) -> bool:
    """True for the Kubernetes training task (the class is imported only where it runs)."""
    module = sys.modules.get("driftline.operators.train_pod")
    return module is not None and isinstance(task, module.TrainPodOperator)


GIB = float(2**30)  # AWS bills "GB" of data as 2^30 bytes


def task_usage(task: Any, ti: Any) -> Usage | None:
    """Request units the task recorded in its result (the inference step's writer stats)."""
    module = sys.modules.get("driftline.operators.inference")
    if module is None or not isinstance(task, module.ScoreAndWriteOperator):
        return None
    result = ti.xcom_pull(task_ids=ti.task_id)
    if not isinstance(result, dict):
        return None
    written = int(result.get("written") or 0)
    if result.get("mode") == "snapshot":
        # ImportTable consumes no write units: it is billed per GB of uncompressed source data
        # (the export's bytes before gzip), plus the PUTs of the export's parts.
        size = int(result.get("export_bytes") or 0)
        return Usage(
            dynamodb_import_gb=size / GIB,
            s3_put_requests=int(result.get("export_files") or 0),
            details={"source": "import_from_s3", "items": written, "bytes": size},
        )
    consumed = float(result.get("consumed_wcu") or 0.0)
    if consumed > 0:
        return Usage(dynamodb_write_units=consumed, details={"source": "consumed_capacity", "items": written})
    # DynamoDB did not report consumed capacity (e.g. an emulator): one write unit per item of up
    # to 1 KB, marked as such in the entry's details.
    return Usage(dynamodb_write_units=float(written), details={"source": "items_written", "items": written})


def opencost_entries(
    config: ModelConfig,
    entries: list[Entry],
    run_id: str,
    start: dt.datetime,
    end: dt.datetime,
    dag_id: str,
) -> list[Entry]:
    """The entries with OpenCost's compute/GPU figure for this model's pods of the run, where it has one
    (matched on model, DAG and run: a scheduled run id is shared by every model on that schedule)."""
    from airflow.sdk import BaseHook

    from driftline.cost.opencost import OpenCostError, allocation_for
    from driftline.operators.train_pod import cost_labels

    cost = config.cost
    assert cost is not None and cost.opencost_conn_id is not None  # noqa: S101 - narrows the type: the factory adds this task only with a cost section
    conn = BaseHook.get_connection(cost.opencost_conn_id)
    host = conn.host or ""
    base = (
        host if "://" in host else f"{conn.schema or 'http'}://{host}{f':{conn.port}' if conn.port else ''}"
    )
    try:
        allocation = allocation_for(base, cost_labels(config.model.name, dag_id, run_id), start, end)
    except OpenCostError as exc:
        log.warning("keeping the estimate: %s", exc)
        return [
            Entry(e.kind, e.quantity, e.unit, e.amount, e.source, {**e.details, "opencost_error": str(exc)})
            for e in entries
        ]
    if allocation is None:
        log.warning("OpenCost has no allocation for run %s yet: keeping the estimate", run_id)
        return [
            Entry(e.kind, e.quantity, e.unit, e.amount, e.source, {**e.details, "opencost": "no allocation"})
            for e in entries
        ]
    by_kind = {e.kind: e for e in entries}
    replaced = [
        Entry(
            "compute",
            by_kind["compute"].quantity,
            "vcpu_hour",
            allocation.compute,
            "opencost",
            {"estimate": by_kind["compute"].amount, "minutes": allocation.minutes},
        ),
    ]
    if allocation.gpu or "gpu" in by_kind:
        gpu = by_kind.get("gpu")
        replaced.append(
            Entry(
                "gpu",
                gpu.quantity if gpu else 0.0,
                "gpu_hour",
                allocation.gpu,
                "opencost",
                {"estimate": gpu.amount if gpu else 0.0},
            )
        )
    return replaced + [e for e in entries if e.kind not in ("compute", "gpu")]


def footprint_of(config: ModelConfig, task: Any) -> Footprint:
    from driftline.cost.pricing import pod_footprint, worker_footprint

    assert config.cost is not None  # noqa: S101 - narrows the type: the factory adds this task only with a cost section
    if is_pod_task(task):
        return pod_footprint(config.training.kubernetes.resources)
    return worker_footprint(config.cost)


def record_task_cost(context: Any) -> int:
    """Record the cost of the try that just ended (see the module docstring); returns rows written."""
    from driftline.cost.budget import check_budget
    from driftline.cost.ledger import Ledger, TaskKey
    from driftline.cost.pricing import task_entries

    task = context.get("task")
    ti = context.get("ti") or context.get("task_instance")
    config = getattr(task, "model_config", None)
    if not isinstance(config, ModelConfig) or config.cost is None or not config.cost.enabled or ti is None:
        return 0
    cost = config.cost
    ended = _utc(getattr(ti, "end_date", None)) or dt.datetime.now(dt.UTC)
    started = _utc(getattr(ti, "start_date", None)) or ended
    footprint = footprint_of(config, task)
    entries = task_entries(cost, started, ended, footprint, task_usage(task, ti))
    kinds: tuple[str, ...] = ()
    if footprint.where == "pod" and cost.opencost_conn_id:
        entries = opencost_entries(config, entries, ti.run_id, started, ended, ti.dag_id)
        kinds = ("compute", "gpu")
    key = TaskKey(
        model=config.model.name,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        try_number=int(getattr(ti, "try_number", 1) or 1),
        map_index=int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1),
        data_day=_data_day(context),
    )
    ledger = Ledger()
    written = ledger.record(
        key, entries, started=started, ended=ended, currency=cost.currency, replace_kinds=kinds
    )
    log.info(
        "cost of %s try %d: %.6f %s (%s)",
        key.task_id,
        key.try_number,
        sum(e.amount for e in entries),
        cost.currency,
        ", ".join(f"{e.kind} {e.amount:.6f}" for e in entries),
    )
    run = {"dag_id": key.dag_id, "run_id": key.run_id, "task_id": key.task_id, "try": key.try_number}
    check_budget(ledger, config.model.name, cost, month=ended.strftime("%Y-%m"), run=run)
    if _is_last_step(task):
        log_run_to_mlflow(config, ledger, key)
    return written


def _data_day(context: Any) -> str | None:
    """The first data day of the run's data interval (what `driftline cost --by data-day` groups on)."""
    from driftline.operators.base import run_interval

    try:
        start, _ = run_interval(context)
    except Exception:  # a context without dates (a callback in a test): no data day
        return None
    return start.date().isoformat()


def _is_last_step(task: Any) -> bool:
    """A task of a DAG with no downstream task (the pipeline's publish_summary, the rollback)."""
    has_dag = getattr(task, "has_dag", None)
    return bool(has_dag is not None and has_dag() and not task.downstream_task_ids)


def log_run_to_mlflow(config: ModelConfig, ledger: Any, key: Any) -> None:
    """The run's cost totals to MLflow (one batched call), from the run's last step."""
    from driftline.cost.tracking import log_run_cost
    from driftline.hooks.mlflow import MlflowHook

    assert config.cost is not None  # noqa: S101 - narrows the type: the factory adds this task only with a cost section
    totals = ledger.run_totals(config.model.name, key.run_id)
    gpu_hours = sum(
        r["quantity"] for r in ledger.entries(config.model.name, key.run_id) if r["kind"] == "gpu"
    )
    log_run_cost(
        MlflowHook(config.registry.mlflow_conn_id),
        config.model.name,
        key.dag_id,
        key.run_id,
        totals,
        currency=config.cost.currency,
        extra={"cost.gpu_hours": gpu_hours},
    )


class RecordTaskCost:
    """The task callback: `record_task_cost` (a class so the DAG shows what it is)."""

    def __call__(self, context: Any) -> None:
        record_task_cost(context)

    def __repr__(self) -> str:
        return "RecordTaskCost()"


REPORT_EXPERIMENT = "driftline/cost-report"


class CostReportOperator(BaseOperator):
    """Writes the cost and ROI report of every model (HTML with plots) as an MLflow artifact.

    :param costs: model name -> its config's cost section.
    :param mlflow_conn_ids: model name -> the MLflow connection its experiment store is read from;
        the report goes to the first model's MLflow (`mlflow_conn_id` overrides).
    :param since: first day reported, YYYY-MM-DD or e.g. `30d` (templated).
    """

    template_fields: Sequence[str] = ("since",)
    ui_color = "#fbf3d9"

    def __init__(
        self,
        *,
        costs: dict[str, CostSection | None],
        mlflow_conn_ids: dict[str, str],
        since: str = "90d",
        mlflow_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.costs = costs
        self.mlflow_conn_ids = mlflow_conn_ids
        self.since = since
        self.mlflow_conn_id = mlflow_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.cost.ledger import Ledger
        from driftline.cost.report import collect, format_table, html_report, parse_since
        from driftline.hooks.mlflow import MlflowHook

        since = parse_since(self.since)
        hooks: dict[str, MlflowHook] = {}

        def hook(conn_id: str) -> MlflowHook:
            if conn_id not in hooks:
                hooks[conn_id] = MlflowHook(conn_id)
            return hooks[conn_id]

        rows = collect(
            Ledger(),
            self.costs,
            since=since,
            client_for=lambda model: (
                hook(self.mlflow_conn_ids.get(model, MlflowHook.default_conn_name)).client
            ),
        )
        table = format_table(rows)
        log.info("Cost report since %s:\n%s", since, table)
        page = html_report(rows)
        conn_id = self.mlflow_conn_id or next(
            iter(self.mlflow_conn_ids.values()), MlflowHook.default_conn_name
        )
        store = hook(conn_id)
        experiment_id = store.get_or_create_experiment(REPORT_EXPERIMENT)
        run_id = str(context["run_id"])
        client = store.client
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`airflow.run_id` = '{run_id.replace(chr(39), '')}'",
            max_results=1,
        )
        mlflow_run = (
            found[0]
            if found
            else client.create_run(
                experiment_id, run_name=f"cost report {run_id}", tags={"airflow.run_id": run_id}
            )
        )
        mlflow_run_id = str(mlflow_run.info.run_id)
        client.log_text(mlflow_run_id, page, "cost_report.html")
        client.log_text(mlflow_run_id, table, "cost_report.txt")
        client.set_terminated(mlflow_run_id)
        return {
            "mlflow_run_id": mlflow_run_id,
            "artifact": "cost_report.html",
            "models": {
                r.model: {
                    "total": round(r.total, 6),
                    "currency": r.currency,
                    "runs": r.runs,
                    "gpu_hours": round(r.gpu_hours, 4),
                    "budget_used": r.budget_used,
                    "roi": r.roi.to_dict(),
                }
                for r in rows
            },
        }
