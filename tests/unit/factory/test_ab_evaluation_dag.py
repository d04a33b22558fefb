"""The per-model A/B evaluation DAG: only with ab_test enabled; approval in front of the promotion."""

from __future__ import annotations

from driftline.factory import ids


def test_only_models_with_ab_test_get_the_evaluation_dag(example_config, example_config_path) -> None:
    from driftline.factory.dags import build_model_dags

    assert example_config.ab_test is not None and not example_config.ab_test.enabled
    plain = {d.dag_id for d in build_model_dags(example_config, example_config_path)}
    assert ids.ab_evaluation_dag_id("churn") not in plain

    config = example_config.model_copy(deep=True)
    config.ab_test.enabled = True
    dags = {d.dag_id: d for d in build_model_dags(config, example_config_path)}
    dag = dags["driftline__churn__ab_evaluation"]
    assert ids.model_from_dag_id(dag.dag_id) == "churn"  # a worker builds only this model's DAGs
    assert dag.timetable == dags["driftline__churn"].timetable  # scheduled like the pipeline
    assert "ab_test" in dag.tags and dag.max_active_runs == 1
    assert set(dag.task_dict) == {"evaluate_experiment", "promote_challenger", "close_experiment"}
    assert dag.task_dict["promote_challenger"].upstream_task_ids == {"evaluate_experiment"}
    close = dag.task_dict["close_experiment"]
    assert close.trigger_rule == "all_done"
    assert close.upstream_task_ids == {"evaluate_experiment", "promote_challenger"}


def test_approval_sits_in_front_of_the_ab_promotion(example_config, example_config_path) -> None:
    from driftline.factory.dags import build_ab_evaluation_dag

    config = example_config.model_copy(deep=True)
    config.ab_test.enabled = True
    config.registry.approval = {"required": True, "respondents": ["alice", "bob"], "timeout_hours": 24}
    dag = build_ab_evaluation_dag(config)
    approve = dag.task_dict["approve_promotion"]
    assert approve.upstream_task_ids == {"evaluate_experiment"}
    assert dag.task_dict["promote_challenger"].upstream_task_ids == {
        "evaluate_experiment",
        "approve_promotion",
    }
    assert [u["id"] for u in approve.assigned_users] == ["alice", "bob"]
    assert "waits for the approval of alice, bob" in (dag.doc_md or "")
