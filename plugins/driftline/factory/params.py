"""Trigger-form params: typed with JSON Schema, so the UI refuses an invalid value."""

from __future__ import annotations

import functools

from airflow.sdk import Param

from driftline.config.models import ModelConfig


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
