"""The numbers of one pipeline run, taken from its summary (driftline.operators.summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Gate decisions that put the challenger in production.
_PROMOTED = {"promoted", "promote"}


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def run_metrics(
    summary: Mapping[str, Any],
    durations: Mapping[str, float] | None = None,
    cost: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, params) of a run: numbers to chart and the decisions as text.

    Metrics: rows_loaded, validation_pass_rate, validation_failed, drift_share, drifted_columns,
    dataset_drift, live_metric, live_metric_drop, retrain, gate_promoted, predictions_written,
    duration_s.<stage>, cost.<key>. A stage that did not run contributes nothing (no zeros
    standing in for "not measured").
    """
    stages: Mapping[str, Any] = summary.get("stages") or {}
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}

    current = stages.get("load_current") or {}
    if (rows := _num(current.get("rows"))) is not None:
        metrics["rows_loaded"] = rows
    validated = stages.get("validate_current") or {}
    validation = (validated.get("facts") or {}).get("validation") or {}
    evaluated = _num(validation.get("evaluated"))
    if evaluated:
        metrics["validation_pass_rate"] = float(validation.get("passed") or 0) / evaluated
        metrics["validation_failed"] = float(validation.get("failed") or 0)
        metrics["validation_warned"] = float(validation.get("warned") or 0)

    drift = stages.get("check_drift") or {}
    data_drift = drift.get("data_drift") or {}
    if data_drift.get("evaluated"):
        metrics["drift_share"] = float(data_drift.get("drift_share") or 0.0)
        metrics["drifted_columns"] = float(data_drift.get("number_of_drifted_columns") or 0)
        metrics["dataset_drift"] = float(bool(data_drift.get("dataset_drift")))
        params["drifted_columns"] = ",".join(data_drift.get("drifted_columns") or [])
    concept = drift.get("concept_drift") or {}
    if (live := _num(concept.get("live_value"))) is not None:
        metrics["live_metric"] = live
        params["live_metric_name"] = str(concept.get("metric") or "")
        if (drop := _num(concept.get("drop"))) is not None:
            metrics["live_metric_drop"] = drop

    decision = stages.get("decide_retrain") or {}
    if "retrain" in decision:
        metrics["retrain"] = float(bool(decision["retrain"]))
        params["retrain_decision"] = "retrain" if decision["retrain"] else "keep"

    gate = stages.get("evaluate_gate") or {}
    if gate.get("decision"):
        params["gate_decision"] = str(gate["decision"])
        metrics["gate_promoted"] = float(str(gate["decision"]) in _PROMOTED)
    experiment = gate.get("experiment") or {}
    if isinstance(experiment, Mapping) and experiment.get("status"):
        params["ab_outcome"] = str(experiment["status"])

    scored = stages.get("score_and_write") or {}
    if (written := _num(scored.get("written"))) is not None:
        metrics["predictions_written"] = written

    for stage, seconds in (durations or {}).items():
        metrics[f"duration_s.{stage}"] = float(seconds)
    for key, value in (cost or {}).items():
        metrics[f"cost.{key}"] = float(value)
    return metrics, params
