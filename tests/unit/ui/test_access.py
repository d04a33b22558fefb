"""Authorization follows Airflow's auth manager per DAG, for every view of the page and its API.

The real FastAPI app and real JWTs; the auth manager is Airflow's SimpleAuthManager narrowed per DAG
(`helpers.per_dag_auth_manager`), as FAB or Keycloak grant DAGs one by one. Users:
- `alice` may read `driftline__churn` only;
- `carol` may read `driftline__churn` and the config-error DAG of `fraud-secret.yaml`;
- `root` may read every DAG (the simple manager decides: a viewer).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from driftline.ui.access import config_error_dag

from tests.unit.ui.helpers import BROKEN_FILE, SECRET_FILE, SECRET_VALUE, app_client

FRAUD_WORDS = (
    "fraud",
    SECRET_VALUE,
    "evil",
)  # churn's own data holds hostile values: "evil" is the broken file


@pytest.fixture
def client(
    airflow_db: None, hostile_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any, dict[str, dict[str, str]]]]:
    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(hostile_world["configs"]))
    grants: dict[str, set[str] | None] = {
        "alice": {"driftline__churn"},
        "carol": {"driftline__churn", config_error_dag(SECRET_FILE)},
        "root": None,
    }
    for app, manager, tokens in app_client(monkeypatch, hostile_world["home"], hostile_world["uri"], grants):
        yield app, manager, {user: {"Authorization": token} for user, token in tokens.items()}


def test_config_error_dag_ids_are_the_loaders(hostile_world) -> None:
    from driftline.factory.dags import build_all

    dags = {d.dag_id for d in build_all(hostile_world["configs"])}
    assert config_error_dag(str(hostile_world["configs"] / SECRET_FILE)) in dags
    assert config_error_dag(str(hostile_world["configs"] / BROKEN_FILE)) in dags


def test_a_user_sees_only_the_models_and_config_errors_of_the_dags_they_may_read(client) -> None:
    app, manager, auth = client
    root = app.get("/api/models", headers=auth["root"]).json()
    assert [m["name"] for m in root["models"]] == ["churn", "fraud"]
    assert sorted(p.rsplit("/", 1)[-1] for p in root["config_errors"]) == sorted([BROKEN_FILE, SECRET_FILE])

    alice = app.get("/api/models", headers=auth["alice"])
    assert [m["name"] for m in alice.json()["models"]] == ["churn"]
    assert alice.json()["config_errors"] == {}
    page = app.get("/", headers=auth["alice"])
    assert page.status_code == 200 and "churn" in page.text
    for word in FRAUD_WORDS:
        assert word not in alice.text and word not in page.text, word
    assert "Configs that do not load" not in page.text

    carol = app.get("/api/models", headers=auth["carol"]).json()
    assert [p.rsplit("/", 1)[-1] for p in carol["config_errors"]] == [SECRET_FILE]
    carol_page = app.get("/", headers=auth["carol"]).text
    assert SECRET_FILE in carol_page and "evil" not in carol_page

    asked = {(user, dag, entity) for user, dag, entity in manager.asked if user == "alice"}
    assert ("alice", "driftline__fraud", "DagAccessEntity.RUN") in asked  # the runs of the pipeline DAG
    assert ("alice", config_error_dag(SECRET_FILE), None) in asked  # the config-error DAG itself


def test_a_model_the_user_may_not_read_is_answered_like_one_that_does_not_exist(
    client, hostile_world
) -> None:
    app, _, auth = client
    fraud_run = hostile_world["runs"]["fraud-inert"]
    for path in (
        "/models/{m}",
        "/api/models/{m}",
        f"/models/{{m}}/drift-report/{fraud_run}",
        f"/models/{{m}}/drift-report/{fraud_run}/content",
    ):
        hidden = app.get(path.format(m="fraud"), headers={**auth["alice"], "Sec-Fetch-Dest": "iframe"})
        absent = app.get(path.format(m="nosuch"), headers={**auth["alice"], "Sec-Fetch-Dest": "iframe"})
        assert hidden.status_code == absent.status_code == 404, path
        assert hidden.json()["detail"] == absent.json()["detail"].replace("nosuch", "fraud"), path
        allowed = app.get(path.format(m="fraud"), headers={**auth["root"], "Sec-Fetch-Dest": "iframe"})
        assert allowed.status_code == 200, path
    # another model's report through a model the user may read: the run is not a check of churn
    crossed = app.get(
        f"/models/churn/drift-report/{fraud_run}/content",
        headers={**auth["alice"], "Sec-Fetch-Dest": "iframe"},
    )
    assert crossed.status_code == 404 and "is not a drift check of 'churn'" in crossed.json()["detail"]
    mine = app.get(
        f"/models/churn/drift-report/{hostile_world['runs']['churn-inert']}", headers=auth["alice"]
    )
    assert mine.status_code == 200


def test_no_view_is_served_without_a_login(client) -> None:
    app, _, _ = client
    for path in (
        "/",
        "/models/churn",
        "/api/models",
        "/api/models/churn",
        "/models/churn/drift-report/x/content",
    ):
        assert app.get(path).status_code == 401, path
