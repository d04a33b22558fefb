"""The written score is the probability of `data.positive_class`, whatever order the model's classes sort in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from driftline.inference.batch import run_batch_inference
from inference_helpers import scan_all

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

END = dt.datetime(2026, 1, 16, tzinfo=dt.UTC)


def string_label_model(churn_days: Any, config: Any, positive: str, negative: str) -> Any:
    from driftline.training.estimators import fit_model, prepare_features

    df = churn_days.dropna(subset=[config.data.entity_id])
    y = np.where(df[config.data.label].astype(int) == 1, positive, negative)
    return fit_model(
        config.training.estimator, config.data.features, prepare_features(df, config.data.features), y
    )


def with_positive(config: Any, positive: Any) -> Any:
    data = config.data.model_copy(update={"positive_class": positive})
    return config.model_copy(update={"data": data})


def test_the_score_is_the_configured_positive_class_when_it_sorts_first(
    ddb, make_config, validated, churn_days, current_frame
):
    from driftline.inference.scoring import predict_chunk
    from driftline.training.estimators import prepare_features

    config = with_positive(make_config(), "churned")  # "churned" < "stayed": column 0 of predict_proba
    model = string_label_model(churn_days, config, "churned", "stayed")
    assert list(model.classes_) == ["churned", "stayed"]
    proba = model.predict_proba(prepare_features(current_frame, config.data.features))
    _, scores, _ = predict_chunk(model, current_frame, config)
    assert scores is not None
    np.testing.assert_allclose(scores, proba[:, 0])  # was proba[:, 1]: every score the complement

    run_batch_inference(
        ddb,
        config,
        validated,
        run_id="scheduled__2026-01-15",
        data_time=END,
        champion_version=1,
        load_model=lambda v: model,
    )
    items = {i["entity_id"]: i for i in scan_all(ddb, config.inference.table)}
    ids = [str(v) for v in current_frame["customer_id"].tolist()]
    stored = np.array([float(items[k]["score"]) for k in ids])
    np.testing.assert_allclose(stored, proba[:, 0], atol=1e-9)
    predicted = np.array([items[k]["prediction"] for k in ids])
    assert set(predicted) <= {"churned", "stayed"}
    assert ((stored >= 0.5) == (predicted == "churned")).mean() > 0.99  # the label agrees with the score


def test_0_1_labels_without_a_configured_class_score_class_1(make_config, churn_model, current_frame):
    from driftline.inference.scoring import predict_chunk
    from driftline.training.estimators import prepare_features

    config = make_config()
    _, scores, _ = predict_chunk(churn_model, current_frame, config)
    proba = churn_model.predict_proba(prepare_features(current_frame, config.data.features))
    index = list(churn_model.classes_).index(1)
    np.testing.assert_allclose(scores, proba[:, index])


def test_a_positive_class_the_model_does_not_know_is_refused(make_config, churn_days, current_frame):
    from driftline.inference.errors import InferenceInputError
    from driftline.inference.scoring import predict_chunk

    config = with_positive(make_config(), "gone")
    model = string_label_model(churn_days, config, "churned", "stayed")
    with pytest.raises(InferenceInputError, match=r"data\.positive_class 'gone'.*\['churned', 'stayed'\]"):
        predict_chunk(model, current_frame, config)
