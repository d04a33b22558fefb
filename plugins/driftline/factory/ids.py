"""Stable DAG ids and asset names, derived from the model name only."""

from __future__ import annotations

PREFIX = "driftline"
SEP = "__"


def pipeline_dag_id(model: str) -> str:
    return f"{PREFIX}{SEP}{model}"


def rollback_dag_id(model: str) -> str:
    return f"{PREFIX}{SEP}{model}{SEP}rollback"


def ab_evaluation_dag_id(model: str) -> str:
    return f"{PREFIX}{SEP}{model}{SEP}ab_evaluation"


def config_error_dag_id(file_stem: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in file_stem)
    return f"{PREFIX}{SEP}config_error{SEP}{safe}"


COST_REPORT = "cost_report"
# Names after the prefix that are platform DAGs, not models (model.name may not take them).
RESERVED = ("config_error", COST_REPORT)


def cost_report_dag_id() -> str:
    return f"{PREFIX}{SEP}{COST_REPORT}"


def model_from_dag_id(dag_id: str | None) -> str | None:
    """The model a DAG id belongs to, or None when it is not a Driftline model DAG."""
    if not dag_id or not dag_id.startswith(PREFIX + SEP):
        return None
    model = dag_id[len(PREFIX + SEP) :].split(SEP, 1)[0]
    return None if model in RESERVED else model
