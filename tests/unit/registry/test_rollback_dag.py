"""The rollback DAG: one task without approval; plan >> approve >> rollback with registry.approval."""

from __future__ import annotations

from typing import Any


def test_rollback_dag_without_approval_is_one_task(example_config: Any) -> None:
    from driftline.factory.dags import build_rollback_dag

    example_config.registry.approval.required = False
    dag = build_rollback_dag(example_config)
    assert set(dag.task_ids) == {"rollback"}


def test_rollback_dag_with_approval_plans_asks_then_moves(example_config: Any) -> None:
    from driftline.config.models import ApprovalSection
    from driftline.factory.dags import build_rollback_dag

    example_config.registry.approval = ApprovalSection(required=True, respondents=["carol"])
    dag = build_rollback_dag(example_config)
    assert set(dag.task_ids) == {"plan_rollback", "approve_rollback", "rollback"}
    rollback = dag.get_task("rollback")
    # an approval that skips itself (the target needs none) must not skip the rollback
    assert rollback.upstream_task_ids == {"plan_rollback", "approve_rollback"}
    assert rollback.trigger_rule == "none_failed_min_one_success"
    assert "approval" in rollback.template_fields
