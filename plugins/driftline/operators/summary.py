"""RunSummaryOperator: one record of what every stage of a run did."""

from __future__ import annotations

import json
import logging
from typing import Any

from driftline.operators.base import DriftlineOperator, run_interval, run_params

log = logging.getLogger(__name__)

STAGES = (
    "load_current",
    "validate_current",
    "check_drift",
    "decide_retrain",
    "load_training",
    "validate_training",
    "train",
    "register",
    "evaluate_gate",
    "score_and_write",
)


def summarize(
    model: str, interval: tuple[Any, Any], params: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    """The run summary: which stages ran and the small results each returned."""
    return {
        "model": model,
        "interval": [interval[0].isoformat(), interval[1].isoformat()],
        "params": params,
        "stages": {stage: results[stage] for stage in STAGES if results.get(stage) is not None},
        "skipped": [stage for stage in STAGES if results.get(stage) is None],
    }


class RunSummaryOperator(DriftlineOperator):
    """Collects every stage's XCom into one summary, logs it and returns it."""

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        results = {stage: ti.xcom_pull(task_ids=stage) for stage in STAGES}
        decision = ti.xcom_pull(task_ids="decide_retrain", key="decision")
        if decision is not None:
            results["decide_retrain"] = decision
        p = run_params(context)
        summary = summarize(
            self.model_config.model.name,
            run_interval(context),
            {
                "force_retrain": p.force_retrain,
                "window_days": p.window_days,
                "skip_inference": p.skip_inference,
            },
            results,
        )
        log.info("Run summary:\n%s", json.dumps(summary, indent=2, default=str))
        from driftline.operators.monitoring import publish_run_metrics

        publish_run_metrics(self.model_config, context, summary, STAGES)
        return summary
