"""Human approval of a promotion through Airflow's HITL API, for real: dag.test() on SQLite.

dag.test() keeps a run alive while a task is `awaiting_input`; a response written through the
HITL REST API (the same `PATCH .../hitlDetails` the UI's Required Actions page sends, here through
the API server's FastAPI app with a real JWT of a Simple-auth-manager user) resumes it, and the
scheduler's own `check_awaiting_input_timeouts` sweep answers a timed-out request with its
defaults ("Reject"). dag.test() must run in the main thread, so the human answers from a thread.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

DAG_FILE = textwrap.dedent(
    '''
    """Test DAGs (airflow dag): a stand-in gate asks to promote the newest version; approve; promote."""
    from __future__ import annotations

    import datetime as dt

    from airflow.sdk import DAG, task

    from driftline.config.models import ModelConfig
    from driftline.operators.approval import PromoteApprovedOperator, PromotionApprovalOperator


    def config(timeout_hours):
        return ModelConfig.model_validate({{
            "model": {{"name": "{model}"}},
            "data": {{
                "source": {{"kind": "local", "path": "unused/{{ds}}.parquet"}},
                "entity_id": "id", "timestamp": "ts", "label": "y",
                "features": [{{"name": "x1", "type": "float"}}],
            }},
            "training": {{"estimator": {{"class_path": "sklearn.linear_model.LogisticRegression"}}}},
            "registry": {{"approval": {{"required": True, "respondents": ["alice"], "timeout_hours": timeout_hours}}}},
        }})


    @task
    def gate():
        from driftline.hooks.mlflow import MlflowHook
        from driftline.registry.champion import read_aliases

        hook = MlflowHook("mlflow_default")
        versions = [int(v.version) for v in hook.client.search_model_versions("name='{model}'")]
        # what the real gate records before it asks (the promotion policy reads it)
        hook.client.set_model_version_tag("{model}", str(max(versions)), "driftline.gate.decision", "awaiting_approval")
        return {{
            "decision": "awaiting_approval",
            "promotion_request": {{
                "source": "gate", "model": "{model}", "version": max(versions),
                "expected_champion": read_aliases(hook, "{model}").get("champion"),
                "reason": "gate: challenger better", "metric": "roc_auc", "direction": "maximize",
                "challenger_score": 0.91, "champion_score": 0.84, "interval": {{"lower": 0.03}},
                "ab_result": None, "evaluated_on": "file:///snap.parquet",
                "data_window": {{"start": "2026-01-05T00:00:00+00:00", "end": "2026-01-06T00:00:00+00:00"}},
                "requested_by": "airflow:test", "details": {{"data_time": "2026-01-06T00:00:00+00:00"}},
            }},
        }}


    DAGS = {{}}
    for dag_id, hours in (("approval_long", 1.0), ("approval_short", 0.0005)):
        with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
            cfg = config(hours)
            decision = gate()
            approve = PromotionApprovalOperator(task_id="approve_promotion", model_config=cfg, decision=decision)
            PromoteApprovedOperator(
                task_id="promote_challenger", model_config=cfg, decision=decision, approval=approve.output
            )
        DAGS[dag_id] = dag
    '''
)


@pytest.fixture
def approval_dags(tmp_path, monkeypatch, driftline_home) -> dict[str, Any]:
    from airflow.utils.db import initdb

    initdb()
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "driftline-test-secret")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:admin,mallory:admin")
    folder = tmp_path / "dags"
    folder.mkdir()
    model = f"appr_{time.time_ns() % 10**9}"
    path = folder / "approval_dags.py"
    path.write_text(DAG_FILE.format(model=model))
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
    yield {"model": model, **module.DAGS}
    sys.modules.pop("approval_dags", None)


def _awaiting(dag_id: str, deadline: float) -> Any:
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from sqlalchemy import select

    while time.monotonic() < deadline:
        with create_session() as session:
            ti = session.scalars(
                select(TI).where(
                    TI.dag_id == dag_id, TI.task_id == "approve_promotion", TI.state == "awaiting_input"
                )
            ).first()
            if ti is not None:
                return ti.run_id, ti.trigger_timeout
        time.sleep(0.3)
    raise TimeoutError(f"{dag_id}: approve_promotion never reached awaiting_input")


class Human(threading.Thread):
    """Answers the approval through the HITL REST API (or lets it time out and runs the sweep)."""

    def __init__(self, dag_id: str, answer: str | None) -> None:
        super().__init__(daemon=True)
        self.dag_id, self.answer = dag_id, answer
        self.seen: dict[str, Any] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        run_id, timeout_at = _awaiting(self.dag_id, time.monotonic() + 300)
        self.seen["timeout_at"] = timeout_at
        if self.answer is None:
            from airflow.jobs.job import Job
            from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

            while dt.datetime.now(dt.UTC) <= timeout_at:
                time.sleep(0.2)
            SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()
            return
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from fastapi.testclient import TestClient

        client = TestClient(create_app(apps="core"))

        def headers(user: str) -> dict[str, str]:
            token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role="admin"))
            return {"Authorization": f"Bearer {token}"}

        url = f"/api/v2/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances/approve_promotion/-1/hitlDetails"
        detail = client.get(url, headers=headers("alice"))
        self.seen["detail"] = detail.json()
        body = {"chosen_options": [self.answer], "params_input": {}}
        self.seen["mallory"] = client.patch(url, json=body, headers=headers("mallory")).status_code
        answered = client.patch(url, json=body, headers=headers("alice"))
        self.seen["alice"] = (answered.status_code, answered.json())


def _run_with(dag: Any, answer: str | None) -> tuple[dict[str, str], Human]:
    human = Human(dag.dag_id, answer)
    human.start()
    run = dag.test()
    human.join(60)
    assert human.error is None, human.error
    return {ti.task_id: ti.state for ti in run.get_task_instances()}, human


def _versions(model: str, count: int) -> Any:
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook("mlflow_default")
    client = hook.client
    if not client.search_registered_models(f"name='{model}'"):
        client.create_registered_model(model)
    for _ in range(count):
        client.create_model_version(model, source="file:///tmp/driftline-approval-test-model")
    return hook


@pytest.mark.slow
def test_approval_promotes_and_rejection_or_timeout_do_not(approval_dags, driftline_home) -> None:
    from driftline.registry.audit import history
    from driftline.registry.champion import read_aliases
    from driftline.registry.promotion import promote

    model = approval_dags["model"]
    hook = _versions(model, 2)
    promote(hook, model, 1, None, "first champion", "test")

    # 1. Approved by an allowed respondent: version 2 becomes champion, the approver is in the audit.
    states, human = _run_with(approval_dags["approval_long"], "Approve")
    assert states == {"gate": "success", "approve_promotion": "success", "promote_challenger": "success"}
    detail = human.seen["detail"]
    assert detail["subject"] == f"Promote version 2 of {model} to champion?"
    assert "| score | 0.84 | 0.91 |" in detail["body"] and "`alice`" in detail["body"]
    assert "data window: 2026-01-05T00:00:00+00:00 to 2026-01-06T00:00:00+00:00" in detail["body"]
    assert detail["defaults"] == ["Reject"] and [u["id"] for u in detail["assigned_users"]] == ["alice"]
    assert human.seen["mallory"] == 403  # not a respondent
    assert human.seen["alice"][0] == 200
    assert read_aliases(hook, model) == {"champion": 2, "previous-champion": 1}
    entry = [e for e in history(hook, model) if e.alias == "champion"][-1]
    assert (entry.from_version, entry.to_version) == (1, 2)
    assert "approved by alice" in entry.actor and "approved by alice" in entry.reason
    assert entry.details["approval"]["approved_by"] == "alice"
    assert entry.details["approval"]["approved_at"]
    alerts = [
        json.loads(line) for line in (driftline_home / "alerts" / "alerts.jsonl").read_text().splitlines()
    ]
    assert [a["kind"] for a in alerts] == ["approval_waiting"]
    assert alerts[0]["details"]["version"] == 2

    # 2. Rejected: nothing moves.
    _versions(model, 1)
    states, human = _run_with(approval_dags["approval_long"], "Reject")
    assert human.seen["alice"][0] == 200
    assert states == {"gate": "success", "approve_promotion": "success", "promote_challenger": "skipped"}
    assert read_aliases(hook, model) == {"champion": 2, "previous-champion": 1}

    # 3. Nobody answers: the scheduler's timeout sweep applies the default, Reject; nothing moves.
    states, human = _run_with(approval_dags["approval_short"], None)
    assert states == {"gate": "success", "approve_promotion": "success", "promote_challenger": "skipped"}
    assert read_aliases(hook, model) == {"champion": 2, "previous-champion": 1}
    assert len([e for e in history(hook, model) if e.alias == "champion"]) == 2
