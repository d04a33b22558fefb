"""`driftline env`, `driftline airflow` and `driftline run`: the project's environment for commands run by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from driftline.localenv import export_lines, find_project_root, project_env
from driftline.localrun import days

REPO = Path(__file__).resolve().parents[3]
DRIFTLINE = str(Path(sys.executable).with_name("driftline"))


def test_project_env_matches_the_makefile(tmp_path):
    env = project_env(REPO, environ={})
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["DRIFTLINE_HOME"] == str(REPO / ".driftline")
    assert env["AIRFLOW_HOME"] == str(REPO / ".driftline" / "airflow")
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == f"sqlite:///{REPO / '.driftline' / 'airflow' / 'airflow.db'}"
    )
    makefile = (REPO / "Makefile").read_text()
    for key in env:
        assert f"export {key} :=" in makefile, key  # the same variables as `make` exports
    # what the shell already has wins: a sourced env file, make, and the CLI agree
    mine = project_env(REPO, environ={"DRIFTLINE_HOME": str(tmp_path)})
    assert mine["AIRFLOW_HOME"] == str(tmp_path / "airflow")


def test_export_lines_quote_values():
    assert export_lines({"A": "x y", "B": "it's"}) == "export A='x y'\nexport B='it'\"'\"'s'\n"


def test_project_root_is_found_from_a_subfolder(monkeypatch):
    monkeypatch.delenv("DRIFTLINE_PROJECT_ROOT", raising=False)
    assert find_project_root(REPO / "dags" / "configs") == REPO


def test_days_of_a_range():
    import datetime as dt

    assert days(dt.date(2026, 1, 30), dt.date(2026, 2, 1)) == [
        dt.date(2026, 1, 30),
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 1),
    ]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRIFTLINE"))}
    env["DRIFTLINE_HOME"] = str(home)
    return env


def test_env_command_prints_sourceable_exports(tmp_path):
    out = subprocess.run(
        [DRIFTLINE, "env"], capture_output=True, text=True, env=_clean_env(tmp_path), cwd=tmp_path, check=True
    ).stdout
    assert f"export AIRFLOW_HOME={tmp_path / 'airflow'}\n" in out
    assert f"export AIRFLOW__CORE__DAGS_FOLDER={REPO / 'dags'}\n" in out
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1" && echo "$AIRFLOW__CORE__LOAD_EXAMPLES"', "_", out],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.strip() == "False"


@pytest.mark.slow
def test_airflow_passthrough_uses_the_project(tmp_path):
    result = subprocess.run(
        [DRIFTLINE, "airflow", "config", "get-value", "core", "dags_folder"],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(REPO / "dags")


def test_run_refuses_bad_arguments(tmp_path):
    env = _clean_env(tmp_path)
    both = subprocess.run(
        [DRIFTLINE, "run", "churn", "--date", "2026-01-15", "--start", "2026-01-14"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert both.returncode != 0 and "give --date, or --start and --end, not both" in both.stderr
    neither = subprocess.run([DRIFTLINE, "run", "churn"], capture_output=True, text=True, env=env)
    assert neither.returncode != 0 and "give --date D, or --start S --end E" in neither.stderr


@pytest.mark.slow
def test_run_names_the_models_when_one_is_unknown(tmp_path):
    env = _clean_env(tmp_path)
    result = subprocess.run(
        [DRIFTLINE, "run", "nosuch", "--date", "2026-01-15"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode != 0
    assert "no pipeline DAG 'driftline__nosuch'; models: ['churn']" in result.stderr
    assert (tmp_path / "airflow" / "airflow.db").exists()  # the project's environment, not ~/airflow


def test_a_day_run_by_hand_checks_its_data_once_instead_of_waiting():
    """`driftline run` on a SQL day with no rows sat in wait_for_data for data.wait.timeout_minutes
    (6 h) with nothing on the terminal; now the sensor checks once and fails naming the missing day."""
    from driftline.localrun import _pipeline_dag

    dag = _pipeline_dag("churn")
    assert dag.get_task("wait_for_data").timeout == 0
    assert {task.retries for task in dag.tasks} == {0}
