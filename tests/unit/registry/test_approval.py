"""registry.approval: the config switch, the Markdown the approver reads, and the factory's wiring."""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.registry.approval import PromotionRequest, approval_details, approval_markdown
from pydantic import ValidationError


def _request(**over) -> PromotionRequest:
    request: PromotionRequest = {
        "source": "gate",
        "model": "churn",
        "version": 7,
        "expected_champion": 5,
        "reason": "gate: challenger roc_auc 0.91 vs champion 0.84",
        "metric": "roc_auc",
        "direction": "maximize",
        "challenger_score": 0.91,
        "champion_score": 0.84,
        "interval": {"lower": 0.031, "improvement": 0.07},
        "ab_result": None,
        "evaluated_on": "file:///snapshots/training.parquet",
        "data_window": {"start": "2026-01-05T00:00:00+00:00", "end": "2026-01-06T00:00:00+00:00"},
        "requested_by": "airflow:driftline__churn/scheduled__2026-01-06",
    }
    request.update(over)  # type: ignore[typeddict-item]
    return request


def test_approval_config(example_config) -> None:
    from driftline.config.models import ApprovalSection

    assert example_config.registry.approval.required is False  # off unless switched on
    section = ApprovalSection(required=True, respondents=["alice", "bob"], timeout_hours=12)
    assert section.timeout_hours == 12
    with pytest.raises(ValidationError, match=r"needs at least one user id in approval\.respondents"):
        ApprovalSection(required=True)
    with pytest.raises(ValidationError, match="lists a user twice"):
        ApprovalSection(required=True, respondents=["alice", "alice"])
    with pytest.raises(ValidationError, match="greater than 0"):
        ApprovalSection(timeout_hours=0)


def test_markdown_shows_the_comparison_the_window_and_who_may_answer() -> None:
    drift = {
        "data_drift": {
            "dataset_drift": True,
            "number_of_drifted_columns": 2,
            "number_of_columns": 10,
            "drift_share": 0.2,
            "drift_share_threshold": 0.5,
            "drifted_columns": ["tenure", "plan"],
        },
        "concept_drift": {"drifted": False},
    }
    body = approval_markdown(_request(), respondents=["alice", "bob"], timeout_hours=48, drift=drift)
    assert body.startswith("### Promote version 7 of `churn` to champion?")
    assert "| roc_auc (maximize) | champion v5 | challenger v7 |" in body
    assert "| score | 0.84 | 0.91 |" in body
    assert "lower 0.031" in body
    assert "data drift: DRIFT, 2 of 10 columns" in body and "tenure, plan" in body
    assert "concept drift: no drift" in body
    assert "data window: 2026-01-05T00:00:00+00:00 to 2026-01-06T00:00:00+00:00" in body
    assert "Allowed respondents: `alice`, `bob`. No answer within 48 h rejects the promotion." in body
    assert "only if the champion is still v5" in body


def test_markdown_shows_the_ab_result() -> None:
    ab = {
        "action": "promote",
        "reason": "challenger significantly better",
        "effect": 0.42,
        "lower": 0.1,
        "upper": 0.7,
        "p_value": 0.001,
        "statistic": 6.9,
        "srm_p_value": 0.6,
        "unassigned": 3,
        "arms": {"champion": {"n": 900, "kpi_mean": 10.0, "kpi_var": 4.0}},
        "guardrails": {"revenue": {"relative_change": -0.01, "max_degradation": 0.05, "breached": False}},
    }
    body = approval_markdown(
        _request(source="ab_test", ab_result=ab), respondents=["alice"], timeout_hours=1, drift=None
    )
    assert "Requested by the A/B test" in body and "Always-valid interval of challenger - champion" in body
    assert "| champion | 900 | 10 | 4 |" in body
    assert "always-valid p 0.001" in body and "(mSPRT)" in body
    assert "outcomes of unassigned entities: 3" in body
    assert "guardrail revenue: relative change -0.01 (allowed degradation 0.05), ok" in body


def test_approval_details() -> None:
    at = dt.datetime(2026, 1, 6, 9, tzinfo=dt.UTC)
    answer = {
        "chosen_options": ["Approve"],
        "responded_by_user": {"id": "alice", "name": "Alice"},
        "responded_at": at,
    }
    assert approval_details(answer) == {
        "approved_by": "alice",
        "approved_by_name": "Alice",
        "approved_at": at.isoformat(),
        "chosen": ["Approve"],
    }


def test_factory_puts_the_approval_between_gate_and_promotion(example_config, example_config_path) -> None:
    from driftline.factory.dags import build_pipeline_dag

    plain = build_pipeline_dag(example_config, example_config_path)
    assert "approve_promotion" not in plain.task_dict and "promote_challenger" not in plain.task_dict

    config = example_config.model_copy(deep=True)
    config.registry.approval = {"required": True, "respondents": ["alice"], "timeout_hours": 6}
    dag = build_pipeline_dag(config, example_config_path)
    approve, promote = dag.task_dict["approve_promotion"], dag.task_dict["promote_challenger"]
    assert approve.upstream_task_ids == {"evaluate_gate", "check_drift"}
    assert promote.upstream_task_ids == {"evaluate_gate", "approve_promotion"}
    assert approve.defaults == ["Reject"] and approve.response_timeout == dt.timedelta(hours=6)
    assert approve.assigned_users == [{"id": "alice", "name": "alice"}]
    assert approve.options == ["Approve", "Reject"]
    # inference and the summary never wait for a human
    for task_id in ("score_and_write", "publish_summary"):
        if task_id in dag.task_dict:
            assert not dag.task_dict[task_id].upstream_task_ids & {"approve_promotion", "promote_challenger"}
