"""Shared by the UI's security tests: an auth manager with per-DAG grants, the app client, a hostile world."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# ---- the app behind a per-DAG auth manager -------------------------------------------------------


def per_dag_auth_manager(grants: dict[str, set[str] | None]) -> Any:
    """Airflow's SimpleAuthManager, narrowed per DAG: `grants` maps a user name to the DAG ids it may
    read (None: every DAG, as the simple manager itself decides). SimpleAuthManager's roles are
    DAG-wide; this is how an auth manager with per-DAG permissions (FAB, Keycloak) answers."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    class PerDagAuthManager(SimpleAuthManager):  # type: ignore[misc]
        asked: list[tuple[str, str | None, str | None]] = []

        def is_authorized_dag(
            self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
        ) -> bool:
            dag_id = details.id if details else None
            self.asked.append((user.get_name(), dag_id, str(access_entity) if access_entity else None))
            allowed = grants.get(user.get_name())
            if allowed is not None and dag_id not in allowed:
                return False
            return bool(
                super().is_authorized_dag(
                    method=method, user=user, access_entity=access_entity, details=details
                )
            )

    return PerDagAuthManager()


def app_client(
    monkeypatch: pytest.MonkeyPatch,
    home: Path,
    tracking_uri: str,
    grants: dict[str, set[str] | None],
) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """(TestClient of the Driftline app, the auth manager, {user: Authorization header value}).

    Every user of `grants` is a simple-auth-manager `viewer` with a real JWT; the stack source's
    MLflow is `tracking_uri`, DRIFTLINE_HOME is `home` (its `demo/` is the demo source)."""
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from driftline.ui.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps({"conn_type": "http", "extra": {"tracking_uri": tracking_uri}}),
    )
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{u}:viewer" for u in grants))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json"))
    saved = airflow_app._AuthManagerState.instance
    manager = per_dag_auth_manager(grants)
    manager.init()
    airflow_app._AuthManagerState.instance = manager
    try:
        tokens = {
            user: f"Bearer {manager.generate_jwt(SimpleAuthManagerUser(username=user, role='viewer'))}"
            for user in grants
        }
        yield TestClient(create_app()), manager, tokens
    finally:
        airflow_app._AuthManagerState.instance = saved


# ---- a hostile world: two models, broken configs, a real Evidently report with a script breakout ---

BREAKOUT = "</script><script>alert(1)</script>"
HOSTILE = (
    "<img src=x onerror=alert(1)>",
    BREAKOUT,
    "{{7*7}}",
    "\"'><svg onload=alert(1)>",
    "javascript:alert(1)",
)
BROKEN_FILE = 'evil"<img src=x onerror=alert(1)>.yaml'
SECRET_FILE = "fraud-secret.yaml"
SECRET_VALUE = "fraud-internal-threshold-7341"


def _evidently_report(folder: Path, *, inert: bool) -> Path:
    """A real Evidently report whose category column holds BREAKOUT, written by `drift.report`."""
    import pandas as pd
    from driftline.drift import report

    ref = pd.DataFrame({"plan": ["basic", "pro"] * 60, "usage": [float(i % 17) for i in range(120)]})
    cur = pd.DataFrame({"plan": ["basic", BREAKOUT] * 60, "usage": [float(i % 13) for i in range(120)]})
    snap = report.run_preset(ref, cur, {"plan": "cat", "usage": "num"}, drift_share=0.5)
    if inert:  # the writer the pipelines use
        return Path(report.write_artifacts(str(folder), snap, {})["report_html"])
    folder.mkdir(parents=True)
    raw = folder / report.REPORT_NAME  # as reports were stored before: Evidently's own save_html
    snap.save_html(str(raw))
    return raw


def build_hostile_world(root: Path) -> dict[str, Any]:
    """Configs `churn` and `fraud` plus two broken files; a stack MLflow store with drift checks of both.

    churn's check `inert` holds a report written by `drift.report.write_artifacts`, `raw` one written
    by Evidently's `save_html` alone; its decision and Airflow run tags are hostile strings.
    """
    from driftline.operators.drift_records import TAG_DECIDED_FOR, TAG_DECISION, monitoring_experiment
    from mlflow.tracking import MlflowClient

    configs = root / "configs"
    configs.mkdir()
    churn = (Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml").read_text()
    (configs / "churn.yaml").write_text(churn)
    (configs / "fraud.yaml").write_text(churn.replace("name: churn", "name: fraud", 1))
    (configs / SECRET_FILE).write_text(f"model:\n  name: fraud2\n  owner: {SECRET_VALUE}\n  bogus_field: 1\n")
    (configs / BROKEN_FILE).write_text(f"model:\n  name: '{HOSTILE[0]}'\n")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    runs: dict[str, str] = {}
    for model in ("churn", "fraud"):
        experiment = client.create_experiment(
            monitoring_experiment(model), artifact_location=(root / "artifacts" / model).as_uri()
        )
        kinds = ("inert", "raw") if model == "churn" else ("inert",)
        for i, kind in enumerate(kinds):
            run = client.create_run(
                experiment,
                tags={
                    TAG_DECISION: HOSTILE[0] if model == "churn" else "keep",
                    TAG_DECIDED_FOR: dt.datetime(2026, 2, 1 + i, tzinfo=dt.UTC).isoformat(),
                    "airflow.run_id": HOSTILE[3],
                    "driftline.model": model,
                },
            )
            client.log_metric(run.info.run_id, "data_drift_share", 0.5)
            html = _evidently_report(root / "reports" / f"{model}-{kind}", inert=kind == "inert")
            client.log_artifact(run.info.run_id, str(html), "drift")
            client.set_terminated(run.info.run_id)
            runs[f"{model}-{kind}"] = run.info.run_id
    home = root / "home"
    home.mkdir()
    return {"configs": configs, "uri": uri, "runs": runs, "home": home}
