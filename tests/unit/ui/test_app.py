"""The page's FastAPI app behind Airflow's own authentication (the simple auth manager), in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

USERS = "admin:admin"


@pytest.fixture
def client(
    airflow_db: None, ui_history: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from driftline.ui.app import create_app
    from fastapi.testclient import TestClient

    home, facts = ui_history
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps({"conn_type": "http", "extra": {"tracking_uri": facts["uri"]}}),
    )
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", USERS)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json"))
    saved = airflow_app._AuthManagerState.instance
    airflow_app._AuthManagerState.instance = None
    try:
        manager = airflow_app.init_auth_manager()
        token = manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        yield TestClient(create_app()), token
    finally:
        airflow_app._AuthManagerState.instance = saved


def test_requests_without_a_login_or_with_a_forged_token_are_refused(client) -> None:
    app, _ = client
    for path in ("/", "/models/churn", "/api/models", "/api/models/churn?source=demo"):
        assert app.get(path).status_code == 401, path
        assert app.get(path, headers={"Authorization": "Bearer forged"}).status_code == 403, path
        assert app.get(path, cookies={"_token": "forged"}).status_code == 403, path


def test_a_logged_in_user_gets_the_models_by_token_or_by_the_ui_cookie(client) -> None:
    app, token = client
    by_token = app.get("/api/models?source=demo", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 200
    body = by_token.json()
    assert body["source"] == "demo" and [m["name"] for m in body["models"]] == ["churn"]
    assert body["models"][0]["champion"]["version"] == 1 and len(body["models"][0]["runs"]) == 5
    app.cookies.set("_token", token)
    page = app.get("/?source=demo")
    assert page.status_code == 200 and "Driftline models" in page.text and "Demo history" in page.text
    stack = app.get("/")  # the stack's own MLflow connection points at the same store here
    assert stack.status_code == 200 and 'class="on"' in stack.text


def test_drift_report_is_served_from_the_run_that_stored_it(client, ui_history) -> None:
    app, token = client
    _, facts = ui_history
    headers = {"Authorization": f"Bearer {token}"}
    with_report, without = facts["monitoring_runs"][2], facts["monitoring_runs"][0]
    page = app.get(f"/models/churn/drift-report/{with_report}?source=demo", headers=headers)
    assert page.status_code == 200 and f'src="{with_report}/content?source=demo"' in page.text
    report = app.get(
        f"/models/churn/drift-report/{with_report}/content?source=demo",
        headers={**headers, "Sec-Fetch-Dest": "iframe"},
    )
    assert report.status_code == 200 and "Evidently drift report (test)" in report.text
    missing = app.get(f"/models/churn/drift-report/{without}?source=demo", headers=headers)
    assert missing.status_code == 404 and "no drift report" in missing.json()["detail"]
    training_run = facts["train_runs"][1]  # not a drift check of the model: never served
    assert (
        app.get(f"/models/churn/drift-report/{training_run}?source=demo", headers=headers).status_code == 404
    )
    assert app.get("/models/nope?source=demo", headers=headers).status_code == 404
    assert app.get("/api/models?source=other", headers=headers).status_code == 422
