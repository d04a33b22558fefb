"""The predictions service returns each entity's A/B arm (champion when no experiment ran)."""

from __future__ import annotations

import datetime as dt

from driftline.experiments.assignment import assign_arms
from driftline.inference.arms import ArmPlan
from driftline.inference.batch import run_batch_inference
from driftline.service.app import create_app
from driftline.service.auth import digest
from fastapi.testclient import TestClient

KEY = "dl_test_key"


def test_lookups_return_the_arm(ddb, make_config, validated, churn_model, current_frame):
    config = make_config()
    app = create_app({"churn": config}, lambda cfg: ddb, frozenset({digest(KEY)}))
    client = TestClient(app)
    ids = current_frame["customer_id"].tolist()[:40]
    h = {"X-API-Key": KEY}

    def score(run_id, day, plan):
        run_batch_inference(
            ddb,
            config,
            validated,
            run_id=run_id,
            data_time=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
            champion_version=2,
            load_model=lambda v: churn_model,
            experiment=plan,
        )

    score("scheduled__1", 16, None)
    assert client.get(f"/v1/models/churn/predictions/{ids[0]}", headers=h).json()["arm"] == "champion"

    plan = ArmPlan(1, 3, "s", challenger_share=0.4, holdout_share=0.2, no_model_default="no offer")
    score("scheduled__2", 17, plan)
    arms = assign_arms(ids, salt="s", challenger_share=0.4, holdout_share=0.2)
    body = client.post("/v1/models/churn/predictions:batchGet", json={"entity_ids": ids}, headers=h).json()
    assert {p["entity_id"]: p["arm"] for p in body["predictions"]} == dict(zip(ids, arms, strict=True))
    holdout = next(p for p in body["predictions"] if p["arm"] == "no_model")
    assert holdout["prediction"] == "no offer" and "model_version" not in holdout
    one = client.get(f"/v1/models/churn/predictions/{ids[1]}", headers=h).json()
    assert one["arm"] == arms[1] and one["experiment_id"] == 1
