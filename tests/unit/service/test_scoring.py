"""The /score hot path: the same scores as model.predict_proba(DataFrame) on the same rows, whatever the
path (compiled or frame), the key order, missing optional values; the configured positive class."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from driftline.service.app import create_app
from driftline.service.auth import digest
from driftline.service.champion import ChampionCache
from driftline.service.scorer import compile_scorer
from driftline.training.estimators import fit_model, prepare_features
from fastapi.testclient import TestClient

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

KEY = "dl_test_key"
H = {"X-API-Key": KEY}


def app_for(config: Any, model: Any, version: int = 3) -> TestClient:
    champions = ChampionCache(lambda name: version, lambda name, v: model)
    return TestClient(create_app({"churn": config}, lambda cfg: None, frozenset({digest(KEY)}), champions))


def request_rows(frame: pd.DataFrame, config: Any, seed: int = 1) -> list[dict[str, Any]]:
    """JSON rows as a client sends them: NaN as null, absent optional values, keys in random order."""
    rng = random.Random(seed)
    rows = []
    for record in frame[[config.data.entity_id, *config.feature_names]].to_dict(orient="records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
        row[config.data.entity_id] = str(row[config.data.entity_id])
        for f in config.data.features:
            if f.optional and row[f.name] is None and rng.random() < 0.5:
                del row[f.name]  # absent rather than null
        keys = list(row)
        rng.shuffle(keys)
        rows.append({k: row[k] for k in keys})
    return rows


def expected_scores(model: Any, rows: list[dict[str, Any]], config: Any, column: int) -> np.ndarray:
    frame = prepare_features(pd.DataFrame(rows).reindex(columns=config.feature_names), config.data.features)
    return np.asarray(model.predict_proba(frame))[:, column]


@pytest.fixture
def rows_and_config(
    example_config_session: Any, current_frame: pd.DataFrame
) -> tuple[Any, list[dict[str, Any]]]:
    config = example_config_session
    frame = current_frame.copy()
    frame.loc[frame.index[::5], "usage_minutes"] = np.nan  # optional: missing in every fifth row
    return config, request_rows(frame.head(200), config)


def test_compiled_scores_equal_predict_proba_on_the_dataframe(rows_and_config, churn_model):
    config, rows = rows_and_config
    assert any("usage_minutes" not in r for r in rows) and any(
        r.get("usage_minutes", 0) is None for r in rows
    )
    assert len({tuple(r) for r in rows}) > 1  # the keys come in different orders
    scorer = compile_scorer(churn_model, config, 3)
    assert scorer.mode == "compiled"
    client = app_for(config, churn_model)
    body = client.post("/v1/models/churn/score", json={"rows": rows}, headers=H)
    assert body.status_code == 200, body.text
    out = body.json()
    assert out["version"] == 3 and [p["customer_id"] for p in out["predictions"]] == [
        r["customer_id"] for r in rows
    ]
    got = np.array([p["score"] for p in out["predictions"]])
    np.testing.assert_allclose(got, expected_scores(churn_model, rows, config, 1), rtol=0, atol=1e-9)
    frame = prepare_features(pd.DataFrame(rows).reindex(columns=config.feature_names), config.data.features)
    assert [p["prediction"] for p in out["predictions"]] == churn_model.predict(frame).tolist()
    # one row at a time: the same numbers
    for row in rows[:5]:
        one = client.post("/v1/models/churn/score", json={"rows": [row]}, headers=H).json()["predictions"][0]
        assert one["score"] == pytest.approx(expected_scores(churn_model, [row], config, 1)[0], abs=1e-9)


def test_models_of_other_shapes_are_scored_through_the_frame_path(rows_and_config, churn_days):
    """A callable-trained model (no Driftline pipeline) and a pipeline of another kind: same scores."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    config, rows = rows_and_config
    X = prepare_features(churn_days, config.data.features)
    y = churn_days[config.data.label]
    numeric = [f.name for f in config.data.features if f.type in ("int", "float", "bool")]
    other = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                        ("num", SimpleImputer(), numeric),
                    ]
                ),
            ),
            ("lr", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    scorer = compile_scorer(other, config, 1)
    assert scorer.mode == "frame"
    client = app_for(config, other)
    out = client.post("/v1/models/churn/score", json={"rows": rows}, headers=H).json()
    np.testing.assert_allclose(
        [p["score"] for p in out["predictions"]], expected_scores(other, rows, config, 1), rtol=0, atol=1e-9
    )


def test_a_model_without_categoricals_compiles_to_the_fitted_feature_order(
    example_config_session, churn_days
):
    """One-step pipeline fitted on a DataFrame: the estimator's feature_names_in_ order is used."""
    config = example_config_session.model_copy(deep=True)
    config.data.features = [f for f in config.data.features if f.type != "category"][::-1]
    X = prepare_features(churn_days, config.data.features)
    model = fit_model(config.training.estimator, config.data.features, X, churn_days[config.data.label])
    scorer = compile_scorer(model, config, 1)
    assert scorer.mode == "compiled"
    rows = request_rows(churn_days.head(50), config, seed=4)
    client = app_for(config, model)
    out = client.post("/v1/models/churn/score", json={"rows": rows}, headers=H).json()
    np.testing.assert_allclose(
        [p["score"] for p in out["predictions"]], expected_scores(model, rows, config, 1), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize(("positive", "negative"), [("churned", "stayed"), ("yes", "zz_no")])
def test_the_score_is_the_configured_positive_class_when_it_sorts_first(
    example_config_session, churn_days, positive, negative
):
    """String labels whose positive class sorts first: classes_ == [positive, negative], so the second
    predict_proba column (what /score used to return) is the complement of the right score."""
    config = example_config_session.model_copy(deep=True)
    config.data.positive_class = positive
    X = prepare_features(churn_days, config.data.features)
    y = churn_days[config.data.label].map({1: positive, 0: negative})
    model = fit_model(config.training.estimator, config.data.features, X, y)
    assert list(model.classes_) == [positive, negative]
    rows = request_rows(churn_days.head(60), config, seed=2)
    client = app_for(config, model)
    out = client.post("/v1/models/churn/score", json={"rows": rows}, headers=H).json()["predictions"]
    right = expected_scores(model, rows, config, 0)
    np.testing.assert_allclose([p["score"] for p in out], right, rtol=0, atol=1e-9)
    assert not np.allclose(right, expected_scores(model, rows, config, 1))
    for p in out:  # the score and the predicted label agree
        assert (p["score"] > 0.5) == (p["prediction"] == positive) or abs(p["score"] - 0.5) < 1e-12


def test_string_labels_without_a_positive_class_are_refused_when_the_champion_loads(
    example_config_session, churn_days
):
    from driftline.training.metrics import PositiveClassError

    config = example_config_session.model_copy(deep=True)
    config.data.positive_class = None
    X = prepare_features(churn_days, config.data.features)
    model = fit_model(
        config.training.estimator,
        config.data.features,
        X,
        churn_days[config.data.label].map({1: "a", 0: "b"}),
    )
    with pytest.raises(PositiveClassError, match=r"data\.positive_class"):
        compile_scorer(model, config, 1)
    client = app_for(config, model)
    refused = client.post(
        "/v1/models/churn/score", json={"rows": request_rows(churn_days.head(1), config)}, headers=H
    )
    assert refused.status_code == 503 and "data.positive_class" in refused.json()["detail"]


def test_concurrent_requests_are_batched_into_one_predict_call(rows_and_config, churn_model):
    """Requests queued while the model runs go to it together; each gets its own rows back."""
    import asyncio
    import threading

    from driftline.service.batching import MicroBatcher

    config, rows = rows_and_config
    scorer = compile_scorer(churn_model, config, 1)
    calls: list[int] = []
    gate = threading.Event()
    real = scorer.score

    def slow_score(X: Any) -> Any:
        calls.append(len(X))
        gate.wait(5)
        return real(X)

    scorer.score = slow_score  # type: ignore[method-assign]
    batches: list[tuple[int, int]] = []
    batcher = MicroBatcher(scorer, max_rows=64, on_batch=lambda r, n: batches.append((r, n)))
    matrices = [scorer.matrix({"rows": [row]}, 10)[1] for row in rows[:30]]

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit(matrices[0]))
        await asyncio.sleep(0.05)  # the first batch is in the model
        rest = [asyncio.ensure_future(batcher.submit(X)) for X in matrices[1:]]
        await asyncio.sleep(0.05)
        gate.set()
        return [await first, *[await r for r in rest]]

    results = asyncio.run(scenario())
    assert calls == [1, 29] and batches == [(1, 1), (29, 29)]
    want = expected_scores(churn_model, rows[:30], config, 1)
    np.testing.assert_allclose([r.scores[0] for r in results], want, rtol=0, atol=1e-9)


def test_readiness_waits_for_the_warm_up_and_the_champion_reloads_without_a_pause(
    rows_and_config, churn_model
):
    """/readyz is 503 until the champion is loaded and warmed up; when the alias moves the new version
    is loaded beside the old one and swapped in, requests meanwhile answer from the old one."""
    import threading

    config, rows = rows_and_config
    version = [1]
    release = threading.Event()
    loads: list[int] = []

    def load(name: str, v: int) -> Any:
        loads.append(v)
        if v == 2:
            release.wait(10)  # version 2 loads slowly
        return churn_model

    champions = ChampionCache(lambda name: version[0], load, ttl_s=0.05)
    app = create_app({"churn": config}, lambda cfg: None, frozenset({digest(KEY)}), champions)
    client = TestClient(app)
    assert client.get("/readyz").status_code == 503  # no start-up has run
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        described = ready.json()["models"]["churn"]
        assert described["state"] == "ready" and described["version"] == 1 and described["mode"] == "compiled"
        assert described["warmup_ms"] > 0
        version[0] = 2
        import time

        deadline = time.monotonic() + 5
        while 2 not in loads and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 2 in loads  # loading version 2 now; requests still answer with version 1
        during = client.post("/v1/models/churn/score", json={"rows": rows[:3]}, headers=H)
        assert during.status_code == 200 and during.json()["version"] == 1
        assert client.get("/readyz").status_code == 200
        release.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            after = client.post("/v1/models/churn/score", json={"rows": rows[:3]}, headers=H).json()
            if after["version"] == 2:
                break
            time.sleep(0.05)
        assert after["version"] == 2
        metrics = client.get("/metrics", headers=H)
        assert metrics.status_code == 200
        text = metrics.text
        assert 'driftline_service_champion_version{model="churn"} 2.0' in text
        assert "driftline_service_score_batch_rows_bucket" in text
        assert 'driftline_service_request_seconds_bucket{le="0.01",route="/v1/models/churn/score"}' in text
        assert client.get("/metrics").status_code == 401


def test_a_registry_down_at_start_up_is_not_ready_and_scoring_says_why(rows_and_config, churn_model):
    config, rows = rows_and_config

    def resolve(name: str) -> int:
        raise ConnectionError("mlflow at https://admin:hunter2@mlflow.internal is down")

    champions = ChampionCache(resolve, lambda name, v: churn_model, ttl_s=60)
    app = create_app({"churn": config}, lambda cfg: None, frozenset({digest(KEY)}), champions)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["models"]["churn"]["state"] == "failed"
        assert "hunter2" not in ready.text
        assert client.get("/healthz").status_code == 200  # alive: a restart would not help
        refused = client.post("/v1/models/churn/score", json={"rows": rows[:1]}, headers=H)
        assert refused.status_code == 503 and "is down" in refused.text and "hunter2" not in refused.text


def test_a_model_without_a_champion_is_ready_and_404s_scoring(rows_and_config, churn_model):
    config, rows = rows_and_config
    champions = ChampionCache(lambda name: None, lambda name, v: churn_model)
    app = create_app({"churn": config}, lambda cfg: None, frozenset({digest(KEY)}), champions)
    with TestClient(app) as client:
        assert client.get("/readyz").json()["models"]["churn"]["state"] == "no_champion"
        assert client.get("/readyz").status_code == 200
        missing = client.post("/v1/models/churn/score", json={"rows": rows[:1]}, headers=H)
        assert missing.status_code == 404 and "has no champion yet" in missing.text
    assert json.loads(json.dumps(app.openapi()))["paths"]["/v1/models/churn/score"]["post"]["requestBody"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "wrong"},
        {"X-API-Key": KEY},
        {"x-api-key": KEY},
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
        {"Authorization": f"BEARER  {KEY}"},  # two spaces: the credentials keep the leading one
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": f"{KEY}"},
        {"X-API-Key": "", "Authorization": f"Bearer {KEY}"},
        {"X-API-Key": "wrong", "Authorization": f"Bearer {KEY}"},
    ],
)
def test_score_checks_the_key_exactly_as_the_other_routes_do(rows_and_config, churn_model, headers) -> None:
    """/score reads the key itself (no FastAPI dependency on the hot path): same verdict as the other routes."""
    config, rows = rows_and_config
    client = app_for(config, churn_model)
    scored = client.post("/v1/models/churn/score", json={"rows": rows[:1]}, headers=headers)
    looked_up = client.get("/metrics", headers=headers)  # the authenticated dependency
    assert (scored.status_code == 401) == (looked_up.status_code == 401), (scored.text, looked_up.text)
    if scored.status_code == 401:
        assert scored.json()["detail"] == looked_up.json()["detail"]
    schema = client.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    assert schema["paths"]["/v1/models/churn/score"]["post"]["security"] == [
        {"APIKeyHeader": []},
        {"HTTPBearer": []},
    ]
