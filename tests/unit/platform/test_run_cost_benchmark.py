"""benchmarks/run_cost.py without the scheduler run (its --quick takes minutes): arguments, the
baseline DAG it writes, its environment and the JSON keys it promises."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
RESERVED = {"8080", "5000", "4566"}


@pytest.fixture(scope="module")
def run_cost():
    spec = importlib.util.spec_from_file_location("run_cost", REPO / "benchmarks" / "run_cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_cost"] = module
    spec.loader.exec_module(module)
    return module


def test_keys_are_the_conventions_run_cost_keys(run_cost) -> None:
    assert run_cost.KEYS == (
        "noop_cpu_s",
        "noop_wall_s",
        "no_retrain_cpu_s",
        "no_retrain_wall_s",
        "retrain_cpu_s",
        "retrain_wall_s",
        "overhead",
    )


def test_repeat_out_of_range_is_refused(run_cost, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cost.main(["--repeat", "99"])
    assert exc.value.code == 2
    assert "--repeat must be between 1 and" in capsys.readouterr().err


def test_environment_uses_its_own_home_and_a_free_port(run_cost, tmp_path: Path) -> None:
    port = run_cost.free_port()
    env = run_cost.environment(tmp_path, port, preload=True)
    assert env["AIRFLOW__API__PORT"] == str(port) not in RESERVED
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///" + str(tmp_path))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"
    assert env["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].endswith("driftline.preload")
    plain = run_cost.environment(tmp_path, port, preload=False)
    assert "AIRFLOW__SCHEDULER__MP_START_METHOD" not in plain
    # task processes read compiled bytecode as a deployment's do; score_and_write has its endpoint
    assert "PYTHONDONTWRITEBYTECODE" not in env
    aws = json.loads(run_cost.environment(tmp_path, port, True, 14999)["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["extra"] == {"endpoint_url": "http://127.0.0.1:14999", "region_name": "us-east-1"}
    assert not [v for v in env.values() if any(f":{p}/" in v or v == p for p in RESERVED)]


def test_noop_dag_mirrors_the_pipeline_shape(run_cost, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    shape = [
        {"task_id": "wait_for_data", "upstream": [], "trigger_rule": "all_success", "kind": "noop"},
        {
            "task_id": "decide_retrain",
            "upstream": ["wait_for_data"],
            "trigger_rule": "all_success",
            "kind": "branch",
        },
        {
            "task_id": "load_training",
            "upstream": ["decide_retrain"],
            "trigger_rule": "all_success",
            "kind": "noop",
        },
        {
            "task_id": "keep_champion",
            "upstream": ["decide_retrain"],
            "trigger_rule": "all_success",
            "kind": "empty",
        },
        {
            "task_id": "publish_summary",
            "upstream": ["keep_champion", "load_training"],
            "trigger_rule": "none_failed_min_one_success",
            "kind": "noop",
        },
    ]
    (tmp_path / "driftline_noop.py").write_text(run_cost.NOOP_DAG % {"shape": json.dumps(shape)})
    bag = DagBag(dag_folder=str(tmp_path), safe_mode=True)
    assert bag.import_errors == {}
    dag = bag.dags["driftline_noop"]
    got = {
        t.task_id: (type(t).__name__, sorted(t.upstream_task_ids), t.trigger_rule.value) for t in dag.tasks
    }
    assert got == {
        "wait_for_data": ("NoopOperator", [], "all_success"),
        "decide_retrain": ("NoopBranch", ["wait_for_data"], "all_success"),
        "load_training": ("NoopOperator", ["decide_retrain"], "all_success"),
        "keep_champion": ("EmptyOperator", ["decide_retrain"], "all_success"),
        "publish_summary": (
            "NoopOperator",
            ["keep_champion", "load_training"],
            "none_failed_min_one_success",
        ),
    }
