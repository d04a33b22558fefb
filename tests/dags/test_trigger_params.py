"""Unknown trigger conf keys are refused in the run's first task, naming the valid params."""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path

import pytest
from driftline.factory.params import UnknownParamsError, refuse_unknown_conf
from driftline.factory.steplog import finish_step, start_step, summarize

REPO = Path(__file__).resolve().parents[2]


def _context(conf: dict[str, object] | None, params: dict[str, object]) -> dict[str, object]:
    dag = types.SimpleNamespace(dag_id="driftline__churn", params=params)
    return {"dag": dag, "dag_run": types.SimpleNamespace(conf=conf)}


def test_known_or_no_conf_passes():
    params = {"force_retrain": False, "window_days": None, "skip_inference": False}
    refuse_unknown_conf(_context(None, params))
    refuse_unknown_conf(_context({}, params))
    refuse_unknown_conf(_context({"window_days": 3, "force_retrain": True}, params))


def test_misspelled_key_is_refused_with_the_valid_params():
    params = {"force_retrain": False, "window_days": None, "skip_inference": False}
    with pytest.raises(UnknownParamsError) as info:
        refuse_unknown_conf(_context({"window_dayz": 3, "force_retrain": True}, params))
    assert str(info.value) == (
        "driftline__churn: unknown trigger param(s) ['window_dayz'] in the run's conf; "
        "valid params: ['force_retrain', 'skip_inference', 'window_days'] (check the spelling; nothing was run)"
    )


def test_every_task_checks_the_conf(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(REPO / "dags" / "configs"))
    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=True)
    for dag_id in ("driftline__churn", "driftline__churn__rollback"):
        for task in bag.dags[dag_id].tasks:
            assert task._pre_execute_hook is start_step, (dag_id, task.task_id)
            assert task._post_execute_hook is finish_step, (dag_id, task.task_id)


@pytest.fixture
def churn_dag(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    initdb()
    bundle = [
        {
            "name": "driftline-trigger-params-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(REPO / "dags"), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(REPO / "dags" / "configs"))
    return DagBag(dag_folder=str(REPO / "dags"), safe_mode=True).dags["driftline__churn"]


@pytest.mark.slow
def test_dag_run_with_a_misspelled_key_fails_its_first_task_at_once(churn_dag, driftline_home, capfd, caplog):
    run = churn_dag.test(logical_date=dt.datetime(2026, 1, 16, tzinfo=dt.UTC), run_conf={"window_dayz": 3})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    [root] = [t.task_id for t in churn_dag.tasks if not t.upstream_task_ids]  # wait_for_data, or load_current
    assert states[root] == "failed", states
    first = next(ti for ti in run.get_task_instances() if ti.task_id == root)
    assert first.try_number == 1  # a PermanentError: no retry
    # nothing ran (champion_settled is an all_done join: it "succeeds" after its upstreams failed)
    assert all(state != "success" for task, state in states.items() if task != "champion_settled"), states
    assert states.get("score_and_write") == "upstream_failed", states
    assert not (driftline_home / "snapshots").exists()  # nothing was read or written
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text
    assert "unknown trigger param(s) ['window_dayz']" in text
    assert f"Driftline step {root}: " in text


def test_step_summary_leads_with_the_decision():
    result = {"facts": {"x": 1}, "decision": "promoted", "reason": "better by 0.02", "version": 3}
    assert summarize(result) == '{"decision": "promoted", "reason": "better by 0.02", "version": 3}'
    assert summarize(None) == "nothing returned"
    assert summarize("keep_champion") == "keep_champion"
