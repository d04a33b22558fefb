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


def test_lookups_are_cached_until_the_generation_moves(
    ddb, make_config, validated, churn_model, current_frame
):
    """Upsert mode: a cached answer outlives changes no generation reports, and goes when a run
    completes, when the alias moves; the key is checked on hits too; no generation item, no cache."""
    from driftline.inference.items import meta_key
    from driftline.inference.runs import GENERATION, read_generation, to_wire
    from driftline.service.cache import ResponseCache

    config = make_config()
    table = config.inference.table

    def run(run_id: str, day: int, version: int) -> None:
        run_batch_inference(
            ddb,
            config,
            validated,
            run_id=run_id,
            data_time=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
            champion_version=version,
            load_model=lambda v: churn_model,
        )

    run("scheduled__1", 16, 2)
    assert read_generation(ddb, config.inference, consistent=True) == 1
    version = [2]
    champions = ChampionCache(lambda name: version[0], lambda name, v: churn_model, ttl_s=0)
    cache = ResponseCache(max_items=100, ttl_s=3600)
    # pointer_ttl_s=0: the generation is re-read on every request, so each step shows at once
    app = create_app({"churn": config}, lambda cfg: ddb, frozenset({digest(KEY)}), champions, cache, 0.0)
    client = TestClient(app)
    h = {"X-API-Key": KEY}
    entity, other = (str(e) for e in current_frame["customer_id"].iloc[:2])
    url = f"/v1/models/churn/predictions/{entity}"

    def run_id_of(response: Any) -> Any:
        return response.json().get("airflow_run_id") if response.status_code == 200 else response.status_code

    assert run_id_of(client.get(url, headers=h)) == "scheduled__1"
    assert client.get("/v1/models/churn/predictions/nobody", headers=h).status_code == 404
    # changed behind the service's back (no run completed): the cache keeps answering
    ddb.put_item(TableName=table, Item={"entity_id": {"S": "nobody"}, "airflow_run_id": {"S": "x"}})
    ddb.delete_item(TableName=table, Key={"entity_id": {"S": entity}})
    assert run_id_of(client.get(url, headers=h)) == "scheduled__1"  # a hit
    assert client.get("/v1/models/churn/predictions/nobody", headers=h).status_code == 404  # a cached miss
    assert client.get("/healthz").json()["cache"] == {"items": 2, "hits": 2, "misses": 2}
    # a hit still needs the key
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    batch = client.post(
        "/v1/models/churn/predictions:batchGet", json={"entity_ids": [entity, other]}, headers=h
    )
    assert [p["entity_id"] for p in batch.json()["predictions"]] == [entity, other]  # entity from the cache
    assert (
        client.post("/v1/models/churn/predictions:batchGet", json={"entity_ids": [entity]}).status_code == 401
    )

    run("scheduled__2", 17, 2)  # a run completed: its generation drops every cached answer
    assert read_generation(ddb, config.inference, consistent=True) == 2
    assert run_id_of(client.get(url, headers=h)) == "scheduled__2"
    assert client.get("/v1/models/churn/predictions/nobody", headers=h).status_code == 200

    ddb.delete_item(TableName=table, Key={"entity_id": {"S": entity}})
    assert run_id_of(client.get(url, headers=h)) == "scheduled__2"  # cached
    version[0] = 3  # the alias moved: the model's cached answers are dropped
    assert client.get(url, headers=h).status_code == 404

    # a table no run of this version has completed into has no generation: nothing is cached
    ddb.delete_item(TableName=table, Key=to_wire(meta_key(config.inference, GENERATION)))
    assert run_id_of(client.get(f"/v1/models/churn/predictions/{other}", headers=h)) == "scheduled__2"
    ddb.delete_item(TableName=table, Key={"entity_id": {"S": other}})
    assert client.get(f"/v1/models/churn/predictions/{other}", headers=h).status_code == 404
    assert client.get("/v1/models/fraud/predictions/x", headers=h).status_code == 404


def test_the_response_cache_is_bounded_expires_and_keeps_one_generation():
    from driftline.service.cache import MISSING, ResponseCache

    now = [0.0]
    cache = ResponseCache(max_items=2, ttl_s=10, clock=lambda: now[0])
    cache.advance("m", ("t1", 1))
    for key in ("a", "b", "c"):
        cache.put("m", ("t1", 1), key, {"k": key})
    assert len(cache) == 2 and cache.get("m", ("t1", 1), "a") is None  # the least recently used went
    assert cache.get("m", ("t1", 1), "b") == {"k": "b"}
    cache.put("m", ("t1", 1), "gone", MISSING)
    assert cache.get("m", ("t1", 1), "gone") is MISSING
    now[0] = 10.0
    assert cache.get("m", ("t1", 1), "gone") is None  # expired
    cache.put("m", ("t1", 1), "x", 1)
    cache.advance("other", ("t9", 1))
    cache.put("other", ("t9", 1), "x", 2)
    cache.advance("m", ("t2", 1))  # the pointer moved
    assert cache.get("m", ("t1", 1), "x") is None and cache.stats.invalidations == 1
    assert cache.get("m", ("t2", 1), "x") is None  # dropped, not carried over
    cache.put("m", ("t1", 1), "late", 3)  # read under the old generation, stored after it moved
    assert cache.get("m", ("t2", 1), "late") is None and cache.get("m", ("t1", 1), "late") is None
    assert cache.get("other", ("t9", 1), "x") == 2  # another model's entries stay
    cache.advance("m", None)  # not cacheable
    cache.put("m", None, "y", 4)
    assert cache.get("m", None, "y") is None
    assert ResponseCache(max_items=0).get("m", ("t", 1), "x") is None


def test_the_generation_is_reread_in_the_background_and_waited_for_only_when_too_old():
    import asyncio
    import threading

    from driftline.service.generation import Generation, GenerationTracker

    now, reads, seen, calls = [0.0], [0], [], []
    release = threading.Event()

    def read() -> Generation:
        calls.append(threading.current_thread() is threading.main_thread())
        if reads[0] == 1:
            release.wait(10)  # the background refresh is slow
        reads[0] += 1
        return Generation("t", reads[0], 1)

    tracker = GenerationTracker(read, 10.0, seen.append, clock=lambda: now[0])

    async def scenario() -> None:
        assert (await tracker.current()).data == 1  # nothing read yet: waits for the first read
        now[0] = 4.0
        assert (await tracker.current()).data == 1 and reads[0] == 1  # young: no read at all
        now[0] = 6.0
        assert (await tracker.current()).data == 1  # older than half: refresh started, not waited for
        assert (await tracker.current()).data == 1  # the same refresh, still running
        release.set()
        while reads[0] < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert (await tracker.current()).data == 2  # the refresh landed (read at 6.0)
        now[0] = 17.0
        assert (await tracker.current()).data == 3  # older than max_age: waited for

    asyncio.run(scenario())
    assert reads[0] == 3 and [g.data for g in seen] == [1, 2, 3]
    assert not any(calls)  # every read ran in the threadpool, never on the event loop's thread


def test_the_service_knobs_come_from_the_environment(monkeypatch):
    from driftline.exceptions import ConfigError
    from driftline.service.server import pointer_ttl_s, response_cache

    assert response_cache().ttl_s == 600 and pointer_ttl_s() == 5
    monkeypatch.setenv("DRIFTLINE_SERVICE_CACHE_ITEMS", "0")
    monkeypatch.setenv("DRIFTLINE_SERVICE_POINTER_TTL_S", "1.5")
    assert not response_cache().enabled and pointer_ttl_s() == 1.5
    monkeypatch.setenv("DRIFTLINE_SERVICE_CACHE_TTL_S", "soon")
    with pytest.raises(ConfigError, match="expected a number, got 'soon'"):
        response_cache()


def test_a_cache_hit_makes_no_call_to_dynamodb_or_the_registry(served_table, churn_model):
    """The hot path: a hit is answered from memory, the generation read at most every pointer_ttl_s."""
    from driftline.service.cache import ResponseCache

    config, ddb, entity = served_table
    calls: list[str] = []
    resolves: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(ddb, name)

    champions = ChampionCache(lambda name: resolves.append(name) or 2, lambda name, v: churn_model, ttl_s=300)
    cache = ResponseCache(max_items=100, ttl_s=3600)
    app = create_app(
        {"churn": config}, lambda cfg: Counting(), frozenset({digest(KEY)}), champions, cache, 300.0
    )
    with TestClient(app) as client:  # one event loop, as under uvicorn; start-up read the generation
        assert calls == ["get_item"] and len(resolves) == 1  # and loaded the champion (one resolve)
        url = f"/v1/models/churn/predictions/{entity}"
        first = client.get(url, headers={"X-API-Key": KEY})
        assert first.status_code == 200 and calls == ["get_item", "get_item"]  # generation, then the item
        assert len(resolves) == 1
        for _ in range(3):
            assert client.get(url, headers={"X-API-Key": KEY}).content == first.content
        assert calls == ["get_item", "get_item"] and len(resolves) == 1
        assert first.headers["content-type"] == "application/json"


@pytest.fixture
def served_table(ddb, make_config, validated, churn_model, current_frame) -> Any:
    config = make_config()
    run_batch_inference(
        ddb,
        config,
        validated,
        run_id="scheduled__h",
        data_time=dt.datetime(2026, 1, 16, tzinfo=dt.UTC),
        champion_version=2,
        load_model=lambda v: churn_model,
    )
    return config, ddb, str(current_frame["customer_id"].iloc[0])


def test_the_scoring_knobs_come_from_the_environment(monkeypatch):
    from driftline.exceptions import ConfigError
    from driftline.service.server import settings

    assert settings().max_body_bytes == 1024 * 1024 and settings().max_wait_s == 0
    monkeypatch.setenv("DRIFTLINE_SERVICE_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("DRIFTLINE_SERVICE_BATCH_WAIT_MS", "2")
    assert settings().max_body_bytes == 2048 and settings().max_wait_s == 0.002
    monkeypatch.setenv("DRIFTLINE_SERVICE_STARTUP_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match="must be >= 0"):
        settings()


def test_a_bool_feature_cannot_be_optional():
    from driftline.config.models import Feature
    from pydantic import ValidationError

    assert Feature(name="x", type="float", optional=True).optional
    with pytest.raises(ValidationError, match="a bool feature cannot be optional"):
        Feature(name="autopay", type="bool", optional=True)
