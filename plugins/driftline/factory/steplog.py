"""The first and last Driftline lines of every step's log: what it is doing, what it decided.

Set on every task of a Driftline DAG through `default_args` (`pre_execute` / `post_execute`
hooks), so a person opening any task log reads the step's purpose first and its decision
last, whatever the operator. `start_step` also refuses unknown trigger conf keys.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from driftline.factory.params import refuse_unknown_conf

log = logging.getLogger("driftline.step")

# Result keys worth a person's first look, in the order they are shown.
_DECISION_KEYS = (
    "decision",
    "retrain",
    "reasons",
    "reason",
    "status",
    "dataset_drift",
    "rows",
    "name",
    "version",
    "previous",
    "run_id",
    "uri",
)


def _purpose(task: Any) -> str:
    doc = (type(task).__doc__ or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else type(task).__name__


def summarize(result: Any, limit: int = 400) -> str:
    """A one-line account of a step's result."""
    if result is None:
        return "nothing returned"
    if isinstance(result, Mapping):
        picked = {key: result[key] for key in _DECISION_KEYS if key in result}
        text = json.dumps(picked or dict(result), default=str, sort_keys=False)
    else:
        text = json.dumps(result, default=str) if isinstance(result, list | tuple) else str(result)
    return text if len(text) <= limit else text[:limit] + "..."


def start_step(context: Mapping[str, Any]) -> None:
    """Log what the step is about to do; refuse a run triggered with unknown conf keys."""
    task = context.get("task")
    dag_run = context.get("dag_run")
    interval = (context.get("data_interval_start"), context.get("data_interval_end"))
    log.info(
        "Driftline step %s: %s (run %s, data interval %s .. %s)",
        getattr(task, "task_id", "?"),
        _purpose(task),
        getattr(dag_run, "run_id", "?"),
        *interval,
    )
    refuse_unknown_conf(context)


def finish_step(context: Mapping[str, Any], result: Any = None) -> None:
    """Log what the step decided; push how long it took (run metrics read it, see operators.monitoring)."""
    task = context.get("task")
    log.info("Driftline step %s done: %s", getattr(task, "task_id", "?"), summarize(result))
    ti = context.get("ti")
    started = getattr(ti, "start_date", None)
    if ti is not None and started is not None:
        elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
        ti.xcom_push(key="driftline.duration_s", value=round(elapsed, 3))
