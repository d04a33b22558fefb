"""`driftline run` handles approvals like the scheduler would, and signals without leaving a child behind."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DRIFTLINE = str(Path(sys.executable).with_name("driftline"))
APPROVAL_TESTS = REPO / "tests" / "integration" / "approval" / "test_approval_hitl.py"


def _hitl_module() -> Any:
    spec = importlib.util.spec_from_file_location("approval_hitl_dags", APPROVAL_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def approval_dags(tmp_path, monkeypatch, driftline_home) -> dict[str, Any]:
    """Two models' pipelines (gate -> approve_promotion -> promote_challenger), timeouts 1 h and 1.8 s.

    The DAG ids are the pipelines' own (driftline__<model>), so `driftline approve MODEL` finds them."""
    from airflow.utils.db import initdb
    from driftline.factory.ids import pipeline_dag_id

    initdb()
    folder = tmp_path / "dags"
    folder.mkdir()
    model = f"appr_{time.time_ns() % 10**9}"
    other = f"{model}_b"
    path = folder / "approval_dags.py"
    text = _hitl_module().DAG_FILE.format(model=model)
    text = text.replace('"approval_long"', repr(pipeline_dag_id(model)))
    path.write_text(text.replace('"approval_short"', repr(pipeline_dag_id(other))))
    bundle = [
        {
            "name": "driftline-approval-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("approval_dags", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = module.DAGS
    yield {
        "model": model,
        "other": other,
        "long": dags[pipeline_dag_id(model)],
        "short": dags[pipeline_dag_id(other)],
    }
    sys.modules.pop("approval_dags", None)


def _versions(model: str, count: int) -> Any:
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook("mlflow_default")
    if not hook.client.search_registered_models(f"name='{model}'"):
        hook.client.create_registered_model(model)
    for _ in range(count):
        hook.client.create_model_version(model, source="file:///tmp/driftline-approval-test-model")
    return hook


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`driftline ARGS` in its own process, on this test's Airflow database (the environment wins)."""
    return subprocess.run([DRIFTLINE, *args], capture_output=True, text=True, timeout=300)


class Terminal(threading.Thread):
    """Once `driftline run` has announced the approval, answers it: refusals through answer_approval in
    this process, then the real answer from another process (`driftline approve|reject`)."""

    def __init__(
        self, watcher: Any, tries: list[tuple[str, str, int | None]], final: list[str] | None
    ) -> None:
        super().__init__(daemon=True)
        self.watcher, self.tries, self.final = watcher, tries, final
        self.results: list[str] = []
        self.cli: subprocess.CompletedProcess[str] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from driftline.localrun import ApprovalAnswerError, answer_approval

        try:
            deadline = time.monotonic() + 300
            while not self.watcher.seen:  # answered only after the terminal was told
                assert time.monotonic() < deadline, "no approval was ever announced"
                time.sleep(0.3)
            for option, user, version in self.tries:
                try:
                    self.results.append(
                        answer_approval(self.watcher.dag_id, None, option, user, version=version)
                    )
                except ApprovalAnswerError as exc:
                    self.results.append(f"refused: {exc}")
            if self.final:
                self.cli = _cli(*self.final)
        except BaseException as exc:
            self.error = exc


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.slow
def test_an_approval_is_announced_answered_from_another_process_rejected_or_timed_out(
    approval_dags, capfd
) -> None:
    from driftline.factory.ids import pipeline_dag_id
    from driftline.localrun import ApprovalWatcher
    from driftline.registry.champion import read_aliases
    from driftline.registry.promotion import promote

    model, other = approval_dags["model"], approval_dags["other"]
    hook = _versions(model, 2)
    promote(hook, model, 1, None, "first champion", "test")

    # 1. approved from another terminal (`driftline approve MODEL 2`) after refusals: an unknown option,
    #    the wrong version, a user who is not a respondent; the other model has nothing waiting
    dag = approval_dags["long"]
    with ApprovalWatcher(dag.dag_id, model, poll_s=0.5) as watcher:
        tries = [("Maybe", "alice", None), ("Approve", "alice", 1), ("Approve", "mallory", 2)]
        terminal = Terminal(watcher, tries, ["approve", model, "2", "--user", "alice"])
        terminal.start()
        run = dag.test()
    terminal.join(60)
    assert terminal.error is None, terminal.error
    assert terminal.cli is not None and terminal.cli.returncode == 0, terminal.cli
    assert terminal.cli.stdout.startswith(
        f"alice answered 'Approve' to 'Promote version 2 of {model} to champion?'"
    )
    assert _states(run) == {
        "gate": "success",
        "approve_promotion": "success",
        "promote_challenger": "success",
    }
    assert terminal.results[0] == "refused: --option 'Maybe' is not one of ['Approve', 'Reject']"
    assert terminal.results[1].startswith("refused: the approval waiting in run ")
    assert "not about version 1: nothing was recorded" in terminal.results[1]
    assert (
        terminal.results[2]
        == "refused: --user 'mallory' may not answer: registry.approval.respondents is ['alice']"
    )
    assert read_aliases(hook, model)["champion"] == 2
    out = capfd.readouterr().out
    assert f"WAITING  approve_promotion: Promote version 2 of {model} to champion?" in out
    assert f"driftline approve {model} 2 --run {run.run_id} --user alice" in out
    assert "-> ['Reject']" in out

    # 2. rejected from another terminal: nothing promoted; a second model has nothing to answer
    _versions(model, 1)
    with ApprovalWatcher(dag.dag_id, model, poll_s=0.5) as watcher:
        terminal = Terminal(watcher, [], ["reject", model, "3", "--user", "alice"])
        terminal.start()
        run = dag.test()
    terminal.join(60)
    assert terminal.error is None, terminal.error
    assert terminal.cli is not None and terminal.cli.returncode == 0, terminal.cli
    assert "alice answered 'Reject'" in terminal.cli.stdout
    assert _states(run) == {
        "gate": "success",
        "approve_promotion": "success",
        "promote_challenger": "skipped",
    }
    assert read_aliases(hook, model)["champion"] == 2
    refused = _cli("approve", other, "--user", "alice")
    assert refused.returncode == 1
    assert f"no approval of {pipeline_dag_id(other)} is waiting" in refused.stderr

    # 3. nobody answers: timeout_hours applies without a scheduler (it waited forever), default Reject
    _versions(model, 1)
    began = time.monotonic()
    with ApprovalWatcher(approval_dags["short"].dag_id, other, poll_s=0.5):
        run = approval_dags["short"].test()
    assert _states(run) == {
        "gate": "success",
        "approve_promotion": "success",
        "promote_challenger": "skipped",
    }
    assert time.monotonic() - began < 120
    assert read_aliases(hook, model)["champion"] == 2


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_driftline_run_stops_the_child_and_leaves_nothing_behind(tmp_path, signum) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRIFTLINE"))}
    env["DRIFTLINE_HOME"] = str(tmp_path)
    parent = subprocess.Popen(
        [DRIFTLINE, "run", "churn", "--date", "2026-01-15"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    child = None
    while child is None and time.monotonic() < deadline:
        kids = _children(parent.pid)
        child = kids[0] if kids else None
        time.sleep(0.2)
    assert child is not None, "driftline run started no driftline.localrun"
    assert "driftline.localrun" in Path(f"/proc/{child}/cmdline").read_text()
    time.sleep(1.0)  # the child is busy (preparing the database, loading the DAGs)
    group = os.getpgid(child)
    parent.send_signal(signum)
    code = parent.wait(timeout=90)
    assert code != 0
    time.sleep(0.5)
    assert not _alive(child)
    leftovers = [
        p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _alive(p) and _pgid(p) == group
    ]
    assert leftovers == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
