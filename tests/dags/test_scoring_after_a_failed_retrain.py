"""The pipeline's edges and trigger rules, run by Airflow: a failed retrain does not stop scoring,
a failed current window does.

The tasks of the real `driftline__<model>` DAG (inference on) are mirrored one for one (same ids,
edges, trigger rules; `decide_retrain` a branch) by trivial callables, one of which fails, and the
mirror runs under `dag.test()`: the states come from Airflow's own trigger-rule evaluation.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

SCENARIOS = {  # DAG id -> (the task that fails, the branch decide_retrain takes)
    "mirror_validate_training": ("validate_training", "load_training"),
    "mirror_train": ("train", "load_training"),
    "mirror_evaluate_gate": ("evaluate_gate", "load_training"),
    "mirror_validate_current": ("validate_current", "load_training"),
    "mirror_keep": ("nothing", "keep_champion"),
}
DAG_FILE = """# airflow DAG file (safe mode parses only files that say both words)
from tests.dags.test_scoring_after_a_failed_retrain import SCENARIOS, mirror

for _dag_id, (_failing, _branch) in SCENARIOS.items():
    globals()[_dag_id] = mirror(_dag_id, _failing, _branch)
"""


def mirror(dag_id: str, failing: str, branch_to: str):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
    from airflow.sdk import DAG
    from driftline.config import load_config
    from driftline.factory.dags import build_pipeline_dag

    config = load_config(Path(__file__).resolve().parents[2] / "dags" / "configs" / "churn.yaml")
    assert config.inference is not None
    real = build_pipeline_dag(config, Path("churn.yaml"))

    def fail() -> None:
        raise RuntimeError("injected failure")

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
        tasks = {}
        for t in real.tasks:
            if t.task_id == "decide_retrain":
                made = BranchPythonOperator(task_id=t.task_id, python_callable=lambda: branch_to)
            elif type(t).__name__ == "EmptyOperator":
                made = EmptyOperator(task_id=t.task_id, trigger_rule=t.trigger_rule)
            else:
                made = PythonOperator(
                    task_id=t.task_id,
                    python_callable=fail if t.task_id == failing else (lambda: None),
                    trigger_rule=t.trigger_rule,
                    retries=0,
                )
            tasks[t.task_id] = made
        for t in real.tasks:
            for down in t.downstream_task_ids:
                tasks[t.task_id] >> tasks[down]
    return dag


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    """The mirror DAGs from a DAG bundle of their own (dag.test() runs a DAG its bundle holds)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    folder = tmp_path_factory.mktemp("mirror_dags")
    (folder / "mirror_dags.py").write_text(DAG_FILE)
    bundle = [
        {
            "name": "driftline-mirror-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
        initdb()
        bag = DagBag(dag_folder=str(folder), safe_mode=False)
        assert bag.import_errors == {}
        yield bag.dags


@pytest.fixture
def states(mirrors):
    def run(dag_id: str) -> dict[str, str]:
        dag_run = mirrors[dag_id].test(logical_date=dt.datetime(2026, 1, 16, tzinfo=dt.UTC))
        return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}

    return run


@pytest.mark.parametrize("failing", ["validate_training", "train", "evaluate_gate"])
def test_a_failed_retrain_still_scores_the_validated_window_with_the_champion(failing, states):
    got = states(f"mirror_{failing}")
    assert got[failing] == "failed", got
    assert got["champion_settled"] == "success", got
    assert got["score_and_write"] == "success", got
    assert got["publish_summary"] == "upstream_failed", got  # the run fails (and alerts)


def test_a_failed_current_window_is_never_scored(states):
    got = states("mirror_validate_current")
    assert got["score_and_write"] == "upstream_failed", got
    assert got["publish_summary"] == "upstream_failed", got


def test_keeping_the_champion_scores_and_publishes(states):
    got = states("mirror_keep")
    assert got["evaluate_gate"] == "skipped", got
    assert {got["score_and_write"], got["publish_summary"]} == {"success"}, got
