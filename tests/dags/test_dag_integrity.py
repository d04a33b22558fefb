"""DagBag integrity: the loader file builds one DAG family per config, cheaply, and isolates bad files."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ["mlflow", "evidently", "great_expectations", "kubernetes", "boto3", "sklearn", "pandas"]


def fill_dagbag(dags_folder: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(dags_folder / "configs"))
    return DagBag(dag_folder=str(dags_folder), safe_mode=True)


@pytest.fixture
def project_dags(monkeypatch):
    return fill_dagbag(REPO / "dags", monkeypatch)


@pytest.fixture
def dags_with_broken_config(tmp_path, monkeypatch):
    folder = tmp_path / "dags"
    shutil.copytree(REPO / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "configs" / "broken.yaml").write_text(
        (REPO / "dags" / "configs" / "churn.yaml")
        .read_text()
        .replace("name: churn", "name: broken")
        .replace("backend: local", "backend: laptop")
        .replace("catchup: false", "catchup: perhaps")
    )
    return fill_dagbag(folder, monkeypatch)


def test_no_import_errors(project_dags):
    assert project_dags.import_errors == {}


def test_one_dag_family_per_config(project_dags):
    configs = sorted(p.stem for p in (REPO / "dags" / "configs").glob("*.yaml") if not p.name.startswith("_"))
    expected = sorted([f"driftline__{m}" for m in configs] + [f"driftline__{m}__rollback" for m in configs])
    expected = sorted([*expected, "driftline__cost_report"])  # the example model has a cost section
    assert sorted(project_dags.dag_ids) == expected


def test_every_dag_has_tags_owner_retries_and_docs(project_dags):
    for dag_id, dag in project_dags.dags.items():
        model = dag_id.split("__")[1]
        if dag_id == "driftline__cost_report":  # the platform's DAG, not a model's
            assert dag.tags == {"driftline", "cost"} and all(t.retries >= 2 for t in dag.tasks)
            continue
        assert "driftline" in dag.tags and f"model:{model}" in dag.tags, dag_id
        expected_runs = 1 if dag_id.endswith("__rollback") else 4  # schedule.max_active_runs default
        assert dag.max_active_runs == expected_runs, dag_id
        assert dag.doc_md and model in dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id}"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id}"
            assert task.owner == "data-science", f"{dag_id}.{task.task_id}"


def test_pipeline_graph(project_dags):
    dag = project_dags.dags["driftline__churn"]
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert edges == {
        "wait_for_data": ["load_current"],
        "load_current": ["validate_current"],
        "validate_current": ["check_drift", "score_and_write"],
        "check_drift": ["decide_retrain"],
        "decide_retrain": ["keep_champion", "load_training"],
        "load_training": ["validate_training"],
        "validate_training": ["evaluate_gate", "train"],
        "train": ["register"],
        "register": ["evaluate_gate"],
        "evaluate_gate": ["champion_settled", "publish_summary"],
        "keep_champion": ["champion_settled", "publish_summary"],
        "champion_settled": ["score_and_write"],
        "score_and_write": ["publish_summary"],
        "publish_summary": [],
    }
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 0 * * *"  # @daily, each run with its own data interval
    assert not dag.catchup


def test_runs_for_other_days_proceed_while_registry_steps_are_serialised(project_dags):
    dag = project_dags.dags["driftline__churn"]
    assert dag.max_active_runs > 1  # a run waiting for its data does not block a manual run
    serialised = {t.task_id for t in dag.tasks if t.max_active_tis_per_dag == 1}
    assert serialised == {"register", "evaluate_gate"}
    sensor = dag.get_task("wait_for_data")
    assert sensor.deferrable and sensor.timeout == 360 * 60 and sensor.poke_interval == 300


def test_trigger_params_are_typed(project_dags):
    dag = project_dags.dags["driftline__churn"]
    schema = {name: param.schema for name, param in dag.params.items()}
    assert schema["force_retrain"]["type"] == "boolean"
    assert schema["skip_inference"]["type"] == "boolean"
    assert schema["window_days"]["type"] == ["null", "integer"] and schema["window_days"]["minimum"] == 1


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"window_days": 0}, "0 is less than the minimum of 1"),
        ({"window_days": "ten"}, "'ten' is not of type 'null', 'integer'"),
        ({"force_retrain": "yes"}, "'yes' is not of type 'boolean'"),
    ],
)
def test_invalid_param_is_refused(project_dags, conf, message):
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(project_dags.dags["driftline__churn"].params)
    with pytest.raises(ParamValidationError, match=message):
        params.update(conf)
        params.validate()


def test_rollback_params(project_dags):
    dag = project_dags.dags["driftline__churn__rollback"]
    assert dag.schedule is None
    assert set(dag.params) == {"target_version", "reason"}


def test_broken_config_keeps_other_models(dags_with_broken_config):
    bag = dags_with_broken_config
    assert bag.import_errors == {}
    assert {"driftline__churn", "driftline__churn__rollback"} <= set(bag.dag_ids)
    assert "driftline__broken" not in bag.dag_ids


def test_broken_config_is_visible_with_file_and_field(dags_with_broken_config):
    """How a broken config looks in the Airflow UI: a DAG tagged config-error whose page and task show the errors."""
    dag = dags_with_broken_config.dags["driftline__config_error__broken"]
    assert dag.tags == {"driftline", "config-error"} or set(dag.tags) == {"driftline", "config-error"}
    assert dag.description.startswith("BROKEN CONFIG broken.yaml: ")
    assert dag.dag_display_name == "BROKEN CONFIG broken.yaml"
    assert "broken.yaml: 2 error(s)" in dag.doc_md
    assert (
        "  - schedule.catchup: Input should be a valid boolean, unable to interpret input (got 'perhaps')"
        in dag.doc_md
    )
    assert "  - training.backend: Input should be 'local' or 'kubernetes' (got 'laptop')" in dag.doc_md
    task = dag.get_task("report_config_error")
    from driftline.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"training.backend: Input should be 'local' or 'kubernetes'"):
        task.execute({})


@pytest.mark.slow
def test_parsing_imports_no_heavy_module(tmp_path):
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r}, safe_mode=True)\n"
        f"print(json.dumps({{'dags': sorted(bag.dag_ids), 'errors': bag.import_errors, "
        f"'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))\n"
    )
    env = {**os.environ, "DRIFTLINE_CONFIGS": str(REPO / "dags" / "configs")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert "driftline__churn" in report["dags"]
    assert report["heavy"] == []


def test_worker_parse_builds_only_the_needed_model(tmp_path, monkeypatch):
    from airflow.sdk import DAG
    from driftline.factory import build_all

    folder = tmp_path / "configs"
    folder.mkdir()
    example = (REPO / "dags" / "configs" / "churn.yaml").read_text()
    for name in ("alpha", "beta"):
        (folder / f"{name}.yaml").write_text(example.replace("name: churn", f"name: {name}"))
    dags = build_all(folder, only_dag_id="driftline__beta__rollback")
    assert sorted(d.dag_id for d in dags) == ["driftline__beta", "driftline__beta__rollback"]
    assert all(isinstance(d, DAG) for d in dags)
    assert len(build_all(folder)) == 5  # two models' families and the cost report
    assert [d.dag_id for d in build_all(folder, only_dag_id="driftline__cost_report")] == [
        "driftline__cost_report"
    ]


@pytest.mark.slow
def test_parse_benchmark_quick():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "parse.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "parse"
    assert figures["configs"] == 20 and figures["dags"] == 41  # 20 model families and the cost report
    assert figures["import_errors"] == 0
    assert figures["heavy_modules"] == []
    assert {"driftline_s", "baseline_s", "ratio"} <= set(figures)
    if importlib.util.find_spec("dagfactory") is not None:  # the bench group (make bench) is installed
        assert figures["baseline_dags"] == 40 and figures["ratio"] > 0
    else:
        assert figures["baseline_error"].startswith("dag-factory is not installed")


def test_set_params_still_checks_defaults():
    import datetime as dt

    from airflow.sdk import DAG, Param
    from airflow.sdk.exceptions import ParamValidationError
    from driftline.factory.dags import set_params

    dag = DAG("params_check", schedule="@daily", start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ParamValidationError, match="0 is less than the minimum of 1"):
        set_params(dag, {"window_days": Param(0, type="integer", minimum=1)})
    set_params(dag, {"window_days": Param(3, type="integer", minimum=1)})
    assert dict(dag.params) == {"window_days": 3}
