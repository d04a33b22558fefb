"""Hostile input to the predictions service: huge ids and bodies, non-finite and mistyped values,
nested objects, unknown categories; the headers on every answer; no credential in any log line;
expired items never served."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import pytest
from driftline.service.app import create_app
from driftline.service.auth import digest
from driftline.service.champion import ChampionCache
from driftline.service.security import redact
from fastapi.testclient import TestClient

KEY = "dl_test_key_7f3a9b"
H = {"X-API-Key": KEY}
FIVE_MB = "x" * (5 * 1024 * 1024)


@pytest.fixture
def client(example_config_session: Any, churn_model: Any) -> TestClient:
    champions = ChampionCache(lambda name: 1, lambda name, v: churn_model)
    app = create_app({"churn": example_config_session}, lambda cfg: None, frozenset({digest(KEY)}), champions)
    return TestClient(app)


def good_row() -> dict[str, Any]:
    return {
        "customer_id": "c-1",
        "tenure_months": 12,
        "monthly_charges": 49.5,
        "support_calls": 1,
        "usage_minutes": 300.0,
        "plan": "basic",
        "autopay": True,
    }


def asgi_get(app: Any, path: str) -> tuple[int, bytes]:
    """A GET straight through the ASGI app (httpx refuses URLs over 64 KB client-side)."""
    import asyncio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-api-key", KEY.encode()), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_a_5mb_entity_id_is_refused_naming_the_field_without_echoing_it(client):
    status, body = asgi_get(client.app, f"/v1/models/churn/predictions/{FIVE_MB}")
    assert status == 422 and b"entity_id" in body and len(body) < 2000
    looked_up = client.get(f"/v1/models/churn/predictions/{'x' * 60_000}", headers=H)
    assert looked_up.status_code == 422 and "entity_id" in looked_up.text and len(looked_up.content) < 2000
    scored = client.post(
        "/v1/models/churn/score", json={"rows": [{**good_row(), "customer_id": "y" * 3000}]}, headers=H
    )
    assert scored.status_code == 422 and "customer_id" in scored.text and len(scored.content) < 2000
    batch = client.post("/v1/models/churn/predictions:batchGet", json={"entity_ids": ["z" * 3000]}, headers=H)
    assert batch.status_code == 422 and "entity_ids" in batch.text and len(batch.content) < 2000
    # a 5 MB id inside a body is over the body limit before anything parses it
    huge = client.post(
        "/v1/models/churn/score", json={"rows": [{**good_row(), "customer_id": FIVE_MB}]}, headers=H
    )
    assert huge.status_code == 413


def test_a_20mb_body_is_refused_before_it_is_read(client):
    body = b'{"rows": [' + b" " * (20 * 1024 * 1024) + b"]}"
    declared = client.post(
        "/v1/models/churn/score", content=body, headers={**H, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413 and "DRIFTLINE_SERVICE_MAX_BODY_BYTES" in declared.text
    assert declared.headers["x-content-type-options"] == "nosniff"
    read: list[int] = []

    def chunks() -> Any:  # chunked: no Content-Length to go by
        for _ in range(20):
            read.append(1)
            yield b" " * (1024 * 1024)

    streamed = client.post(
        "/v1/models/churn/score", content=chunks(), headers={**H, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert client.post("/v1/models/churn/predictions:batchGet", content=body, headers=H).status_code == 413
    assert client.post("/v1/models/churn/score", content=body).status_code == 413  # before auth too


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("monthly_charges", "Infinity", "expected a number"),
        ("monthly_charges", "NaN", "expected a number"),
        ("monthly_charges", 1e400, "must be a finite number"),  # json.dumps writes Infinity: see below
        ("tenure_months", None, "required"),
        ("tenure_months", 3.5, "expected an integer"),
        ("tenure_months", True, "expected a number"),
        ("tenure_months", {"$gt": 1}, "expected a number"),
        ("plan", {"nested": {"deeper": [1, 2]}}, "expected a string"),
        ("plan", ["basic"], "expected a string"),
        ("plan", "platinum", "unknown category"),
        ("plan", "p" * 5000, "at most 1024 characters"),
        ("autopay", "yes", "expected true or false"),
        ("autopay", 1, "expected true or false"),
        ("customer_id", 17, "expected a non-empty string"),
        ("customer_id", "", "expected a non-empty string"),
    ],
)
def test_bad_feature_values_are_a_422_naming_the_row_and_field(client, field, value, message):
    import json

    row = {**good_row(), field: value}
    raw = json.dumps({"rows": [good_row(), row]})  # 1e400 is written as Infinity
    refused = client.post(
        "/v1/models/churn/score", content=raw, headers={**H, "Content-Type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    if value == 1e400:  # the JSON literal Infinity never gets past the parser
        assert "non-finite" in detail[0]["msg"]
        return
    assert detail[0]["loc"] == ["body", "rows", 1, field] and message in detail[0]["msg"]
    assert len(refused.content) < 3000


def test_json_literals_nan_and_infinity_and_other_shapes_are_refused(client):
    ct = {**H, "Content-Type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = '{"rows": [{"customer_id": "c", "tenure_months": 1, "monthly_charges": ' + literal + "}]}"
        refused = client.post("/v1/models/churn/score", content=raw, headers=ct)
        assert refused.status_code == 422 and "non-finite" in refused.text
    for raw in ("not json", "[]", '{"rows": {}}', '{"rows": []}', '{"rows": [1]}', "\xff".encode("latin-1")):
        assert client.post("/v1/models/churn/score", content=raw, headers=ct).status_code == 422
    extra = client.post("/v1/models/churn/score", json={"rows": [{**good_row(), "color": "red"}]}, headers=H)
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "rows", 0, "color"]
    too_many = client.post("/v1/models/churn/score", json={"rows": [good_row()] * 1001}, headers=H)
    assert too_many.status_code == 422 and "1 to 1000 rows" in too_many.text
    missing = {k: v for k, v in good_row().items() if k != "plan"}
    absent = client.post("/v1/models/churn/score", json={"rows": [missing]}, headers=H)
    assert absent.status_code == 422 and absent.json()["detail"][0]["loc"] == ["body", "rows", 0, "plan"]
    optional = {k: v for k, v in good_row().items() if k != "usage_minutes"}  # optional: true in churn.yaml
    assert client.post("/v1/models/churn/score", json={"rows": [optional]}, headers=H).status_code == 200
    null = {**good_row(), "usage_minutes": None}
    assert client.post("/v1/models/churn/score", json={"rows": [null]}, headers=H).status_code == 200


def test_every_answer_carries_the_security_headers(client):
    answers = [
        client.post("/v1/models/churn/score", json={"rows": [good_row()]}, headers=H),
        client.post("/v1/models/churn/score", json={"rows": [good_row()]}),  # 401
        client.get("/v1/models/churn/predictions/" + "q" * 3000, headers=H),  # 422
        client.get("/v1/models/nope/predictions/x", headers=H),  # 404
        client.get("/healthz"),
    ]
    for answer in answers:
        h = answer.headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "default-src 'none'" in h["content-security-policy"]
        assert h["referrer-policy"] == "no-referrer"
    for answer in answers[:4]:
        assert answer.headers["cache-control"] == "no-store"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_no_key_or_credential_reaches_a_log_line(client, caplog, example_config_session, churn_model):
    from driftline.service.security import install_log_redaction

    caplog.set_level(logging.DEBUG)
    install_log_redaction()
    rows = {"rows": [good_row()]}
    assert client.post("/v1/models/churn/score", json=rows, headers={"X-API-Key": KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/v1/models/churn/score", json=rows, headers=bearer).status_code == 200
    wrong = {"X-API-Key": "dl_wrong_guess_123"}
    assert client.post("/v1/models/churn/score", json=rows, headers=wrong).status_code == 401

    def resolve(name: str) -> int:
        raise ConnectionError(
            "HTTPSConnectionPool(host='https://admin:hunter2@mlflow.internal'): "
            "Authorization: Bearer tok-abc123 password=hunter2 aws_secret_access_key=AKIAxyzSECRET"
        )

    champions = ChampionCache(resolve, lambda name, v: churn_model)
    app = create_app({"churn": example_config_session}, lambda cfg: None, frozenset({digest(KEY)}), champions)
    with TestClient(app) as failing:
        failing.post("/v1/models/churn/score", json={"rows": [good_row()]}, headers=H)
    logged = "\n".join(
        [r.getMessage() for r in caplog.records]
        + [caplog.text]
        + [str(r.exc_text or "") for r in caplog.records]
    )
    assert "cannot read the champion" in logged  # the failure is logged ...
    for secret in (KEY, "dl_wrong_guess_123", "hunter2", "tok-abc123", "AKIAxyzSECRET"):
        assert secret not in logged  # ... without its credentials


def test_redact_masks_urls_keys_and_credential_pairs():
    text = (
        "https://user:p4ss@host/x X-API-Key: dl_abcdef123456 Authorization: Basic Zm9vOmJhcg== "
        '{"password": "pw1"} token=t0k secret:shh'
    )
    cleaned = redact(text)
    for secret in ("p4ss", "dl_abcdef123456", "Zm9vOmJhcg==", "pw1", "t0k", "shh"):
        assert secret not in cleaned
    assert "https://***:***@host/x" in cleaned


def test_an_expired_item_is_never_served(ddb, make_config, validated, churn_model):
    """DynamoDB deletes expired items up to days late: the service checks the TTL attribute itself,
    on a read and on a cached answer."""
    from driftline.inference.batch import run_batch_inference
    from driftline.service.cache import ResponseCache

    config = make_config(ttl_days=1)
    table = config.inference.table
    run_batch_inference(
        ddb,
        config,
        validated,
        run_id="scheduled__ttl",
        data_time=dt.datetime.now(dt.UTC).replace(microsecond=0),
        champion_version=1,
        load_model=lambda v: churn_model,
    )
    attr = config.inference.ttl_attribute
    ids = [
        i["entity_id"]["S"]
        for i in ddb.scan(TableName=table, Limit=6)["Items"]
        if not i["entity_id"]["S"].startswith("__")
    ][:3]
    live_id, expired_id, soon_id = ids
    now = time.time()
    ddb.update_item(
        TableName=table,
        Key={"entity_id": {"S": expired_id}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": attr},
        ExpressionAttributeValues={":t": {"N": str(int(now) - 60)}},
    )
    ddb.update_item(
        TableName=table,
        Key={"entity_id": {"S": soon_id}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": attr},
        ExpressionAttributeValues={":t": {"N": str(int(now) + 3600)}},
    )
    wall = [now]
    cache = ResponseCache(max_items=100, ttl_s=86400, wall_clock=lambda: wall[0])
    app = create_app({"churn": config}, lambda cfg: ddb, frozenset({digest(KEY)}), None, cache, 300.0)
    with TestClient(app) as client:
        url = "/v1/models/churn/predictions/"
        assert client.get(url + live_id, headers=H).status_code == 200
        gone = client.get(url + expired_id, headers=H)
        assert gone.status_code == 404  # still in the table: DynamoDB has not deleted it
        assert "Item" in ddb.get_item(TableName=table, Key={"entity_id": {"S": expired_id}})
        batch = client.post(
            "/v1/models/churn/predictions:batchGet",
            json={"entity_ids": [live_id, expired_id, soon_id]},
            headers=H,
        ).json()
        assert [p["entity_id"] for p in batch["predictions"]] == [live_id, soon_id]
        assert batch["missing"] == [expired_id]
        assert client.get(url + soon_id, headers=H).status_code == 200  # now cached
        wall[0] = now + 3601  # its TTL passes while it sits in the cache
        assert client.get(url + soon_id, headers=H).status_code == 404
        again = client.post(
            "/v1/models/churn/predictions:batchGet", json={"entity_ids": [soon_id]}, headers=H
        ).json()
        assert again["missing"] == [soon_id]
