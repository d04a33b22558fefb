"""Trigger-form params: typed with JSON Schema, so the UI refuses an invalid value.

Airflow 3.3 checks the values of declared params when a run is triggered, but a conf key that
names no param is merged in as a new untyped param (`SerializedParamsDict.deep_merge`) and
accepted: there is no DAG-level "no additional properties" switch. So every task of a
Driftline DAG runs `refuse_unknown_conf` before its work (a `pre_execute` hook set through
`default_args`): a misspelled key (`window_dayz`) fails the run's first task at once, naming the
valid params, before any data is read or waited for, and no retry repeats it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError


class UnknownParamsError(PermanentError, AirflowFailException):
    """A run was triggered with conf keys that are not params of the DAG.

    Also an AirflowFailException: it is raised before any task's own retry policy applies (in the
    `pre_execute` hook of sensors too), and no retry fixes it.
    """


def unknown_conf_keys(conf: Mapping[str, Any] | None, valid: set[str]) -> list[str]:
    """The keys of `conf` that name no param in `valid`, sorted."""
    return sorted(str(key) for key in (conf or {}) if key not in valid)


def refuse_unknown_conf(context: Mapping[str, Any]) -> None:
    """Fail (without retry) when the run's conf holds a key that is not one of the DAG's params."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    conf = getattr(dag_run, "conf", None)
    if not conf or dag is None:
        return
    valid = set(dag.params)
    unknown = unknown_conf_keys(conf, valid)
    if unknown:
        raise UnknownParamsError(
            f"{dag.dag_id}: unknown trigger param(s) {unknown} in the run's conf; "
            f"valid params: {sorted(valid)} (check the spelling; nothing was run)"
        )


def pipeline_params(config: ModelConfig) -> dict[str, Param]:
    """The pipeline DAG's trigger form."""
    window = config.data.window
    return dict(_pipeline_params(window.days if window.kind == "rolling" else None))


@functools.lru_cache(maxsize=64)
def _pipeline_params(default_days: int | None) -> dict[str, Param]:
    """Built once per window size: a Param validates its JSON schema when created, a parse cost."""
    return {
        "force_retrain": Param(
            False,
            type="boolean",
            title="Force retrain",
            description="Retrain even without drift, and even inside the cooldown.",
        ),
        "window_days": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=3650,
            title="Training window (days)",
            description=f"Override the rolling training window for this run (config: {default_days}). "
            "Leave empty to use the config.",
        ),
        "skip_inference": Param(
            False,
            type="boolean",
            title="Skip inference",
            description="Do not score the window in this run (train and register only): score_and_write is "
            "skipped. Models without an `inference` section never score; the run summary records this flag.",
        ),
    }


def rollback_params() -> dict[str, Param]:
    return {
        "target_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Target version",
            description="Registered model version to restore; empty restores the previous champion.",
        ),
        "reason": Param(
            "",
            type="string",
            minLength=3,
            maxLength=500,
            title="Reason",
            description="Why you roll back: kept in the registry's audit trail.",
        ),
    }
