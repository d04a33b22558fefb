"""The predictions service on a real moto table: auth, lookups, batch lookups, scoring, OpenAPI."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from driftline.inference.batch import run_batch_inference
from driftline.service.app import create_app
from driftline.service.auth import NoApiKeysError, create_key, digest, load_key_hashes
from driftline.service.champion import ChampionCache
from fastapi.testclient import TestClient

KEY = "dl_test_key"


@pytest.fixture
def served(ddb, make_config, validated, churn_model, current_frame) -> Any:
    config = make_config()
    run_batch_inference(
        ddb,
        config,
        validated,
        run_id="scheduled__1",
        data_time=dt.datetime(2026, 1, 16, tzinfo=dt.UTC),
        champion_version=2,
        load_model=lambda v: churn_model,
    )
    champions = ChampionCache(lambda name: 2, lambda name, version: churn_model)
    app = create_app({"churn": config}, lambda cfg: ddb, frozenset({digest(KEY)}), champions)
    return TestClient(app), config, current_frame


def test_every_route_needs_a_valid_key(served):
    client, _, frame = served
    url = f"/v1/models/churn/predictions/{frame['customer_id'].iloc[0]}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get(url, headers={"X-API-Key": KEY}).status_code == 200
    assert client.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.post("/v1/models/churn/score", json={"rows": []}).status_code == 401


def test_lookup_by_entity_and_404s(served):
    client, _, frame = served
    h = {"X-API-Key": KEY}
    entity = frame["customer_id"].iloc[3]
    body = client.get(f"/v1/models/churn/predictions/{entity}", headers=h).json()
    assert body["entity_id"] == entity and body["model_version"] == 2 and 0 <= body["score"] <= 1
    assert body["prediction"] in (0, 1) and body["alias"] == "champion"
    missing = client.get("/v1/models/churn/predictions/nobody", headers=h)
    assert missing.status_code == 404 and "no prediction for entity 'nobody'" in missing.json()["detail"]
    unknown = client.get(f"/v1/models/fraud/predictions/{entity}", headers=h)
    assert unknown.status_code == 404 and "unknown model 'fraud'" in unknown.json()["detail"]
    assert client.get("/v1/models/churn/predictions/__driftline#newest", headers=h).status_code == 404


def test_batch_lookup(served):
    client, _, frame = served
    ids = [*frame["customer_id"].iloc[:5], "nobody"]
    body = client.post(
        "/v1/models/churn/predictions:batchGet", json={"entity_ids": ids}, headers={"X-API-Key": KEY}
    ).json()
    assert [p["entity_id"] for p in body["predictions"]] == ids[:5] and body["missing"] == ["nobody"]


def test_scoring_posted_rows_with_the_champion(served, churn_model):
    client, config, frame = served
    h = {"X-API-Key": KEY}
    rows = frame[[config.data.entity_id, *config.feature_names]].head(3).to_dict(orient="records")
    body = client.post("/v1/models/churn/score", json={"rows": rows}, headers=h).json()
    assert body["model"] == "churn" and body["version"] == 2
    stored = client.get(f"/v1/models/churn/predictions/{rows[0]['customer_id']}", headers=h).json()
    assert body["predictions"][0]["score"] == pytest.approx(stored["score"], abs=1e-9)
    bad = client.post(
        "/v1/models/churn/score", json={"rows": [{**rows[0], "tenure_months": "long"}]}, headers=h
    )
    assert bad.status_code == 422 and "tenure_months" in str(bad.json())
    extra = client.post("/v1/models/churn/score", json={"rows": [{**rows[0], "color": "red"}]}, headers=h)
    assert extra.status_code == 422
    assert client.post("/v1/models/fraud/score", json={"rows": rows}, headers=h).status_code == 404


def test_openapi_page_lists_the_routes(served):
    client, _, _ = served
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/models/{model}/predictions/{entity_id}", "/v1/models/churn/score"} <= set(paths)


def test_the_champion_is_reloaded_when_the_alias_moves():
    version, now, loads = [1], [0.0], []
    cache = ChampionCache(
        lambda name: version[0],
        lambda name, v: loads.append(v) or f"model-v{v}",
        ttl_s=10,
        clock=lambda: now[0],
    )
    assert cache.get("churn") == (1, "model-v1")
    version[0] = 2
    now[0] = 5.0
    assert cache.get("churn") == (1, "model-v1")  # within the TTL: not re-checked
    now[0] = 11.0
    assert cache.get("churn") == (2, "model-v2") and loads == [1, 2]


def test_keys_are_stored_hashed_and_the_service_never_runs_without_one(tmp_path, monkeypatch):
    monkeypatch.delenv("DRIFTLINE_API_KEY_SHA256", raising=False)
    path = tmp_path / "api_keys"
    with pytest.raises(NoApiKeysError, match="no API keys: create one with `driftline api-key`"):
        load_key_hashes(path)
    key = create_key("app", path)
    assert key not in path.read_text() and load_key_hashes(path) == {digest(key)}
    with pytest.raises(ValueError, match="needs at least one API key"):
        create_app({}, lambda cfg: None, frozenset())


def test_lookups_are_cached_until_the_champion_version_moves(
    ddb, make_config, validated, churn_model, current_frame
):
    from driftline.service.cache import ResponseCache

    config = make_config()
    run_batch_inference(
        ddb,
        config,
        validated,
        run_id="scheduled__c",
        data_time=dt.datetime(2026, 1, 16, tzinfo=dt.UTC),
        champion_version=2,
        load_model=lambda v: churn_model,
    )
    version = [2]
    champions = ChampionCache(lambda name: version[0], lambda name, v: churn_model, ttl_s=0)
    cache = ResponseCache(max_items=100, ttl_s=3600)
    app = create_app({"churn": config}, lambda cfg: ddb, frozenset({digest(KEY)}), champions, cache)
    client = TestClient(app)
    h = {"X-API-Key": KEY}
    entity, other = (str(e) for e in current_frame["customer_id"].iloc[:2])
    url = f"/v1/models/churn/predictions/{entity}"
    assert client.get(url, headers=h).status_code == 200
    assert client.get("/v1/models/churn/predictions/nobody", headers=h).status_code == 404
    for key in (entity, other):
        ddb.delete_item(TableName=config.inference.table, Key={"entity_id": {"S": key}})
    assert client.get(url, headers=h).json()["entity_id"] == entity  # served from the cache
    assert client.get("/v1/models/churn/predictions/nobody", headers=h).status_code == 404  # a cached miss
    assert client.get("/healthz").json()["cache"] == {"items": 2, "hits": 2, "misses": 2}
    batch = client.post(
        "/v1/models/churn/predictions:batchGet", json={"entity_ids": [entity, other]}, headers=h
    )
    assert batch.json()["missing"] == [other]  # `other` was never cached: read from the table
    version[0] = 3  # the alias moved: every cached answer of the model is dropped
    assert client.get(url, headers=h).status_code == 404


def test_the_response_cache_is_bounded_and_expires():
    from driftline.service.cache import MISSING, ResponseCache

    now = [0.0]
    cache = ResponseCache(max_items=2, ttl_s=10, clock=lambda: now[0])
    for key in ("a", "b", "c"):
        cache.put("m", ("t1", 1), key, {"k": key})
    assert len(cache) == 2 and cache.get("m", ("t1", 1), "a") is None  # the least recently used went
    assert cache.get("m", ("t1", 1), "b") == {"k": "b"}
    cache.put("m", ("t1", 1), "gone", MISSING)
    assert cache.get("m", ("t1", 1), "gone") is MISSING
    now[0] = 10.0
    assert cache.get("m", ("t1", 1), "gone") is None  # expired
    cache.put("m", ("t1", 1), "x", 1)
    cache.put("other", ("t9", 1), "x", 2)
    assert cache.get("m", ("t2", 1), "x") is None and cache.stats.invalidations == 1  # the pointer moved
    assert cache.get("other", ("t9", 1), "x") == 2  # another model's entries stay
    assert ResponseCache(max_items=0).get("m", ("t", 1), "x") is None
