"""Label-free performance estimation (CBPE, DLE): hostile inputs first, then the numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from driftline.drift.estimation import metric_rows
from driftline.drift.performance import compare_with_realised, estimate_performance, realised_performance


def configured(config: Any, task: str | None = None, **estimation: Any) -> Any:
    from driftline.config.models import ModelConfig

    data = config.model_dump(mode="json", exclude_unset=True)
    data.setdefault("drift", {})["performance_estimation"] = {"enabled": True, **estimation}
    if task is not None:
        data.setdefault("training", {})["task"] = task
        if task == "regression":
            data.setdefault("registry", {}).update(metric="mae", direction="minimize")
    return ModelConfig.model_validate(data)


def churn(
    n: int, *, shift: float = 0.0, concept: bool = False, seed: int = 0, labels: Any = (1, 0)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    calls = rng.poisson(1 + 3 * shift, n)
    autopay = rng.random(n) < 0.6
    logit = -1.0 + 0.6 * calls - 0.03 * tenure + 0.8 * (~autopay)
    if concept:
        logit = -logit
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "event_time": pd.Timestamp("2026-01-10", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
            "tenure_months": tenure,
            "monthly_charges": rng.normal(60 + 30 * shift, 15, n),
            "support_calls": calls,
            "usage_minutes": rng.normal(300 - 150 * shift, 60, n),
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "autopay": autopay,
            "churned": np.where(churned, labels[0], labels[1]),
        }
    )


def fit(config: Any, df: pd.DataFrame, estimator: Any = None) -> Any:
    from driftline.training.estimators import make_pipeline, prepare_features
    from sklearn.linear_model import LogisticRegression

    model = make_pipeline(estimator or LogisticRegression(max_iter=500), config.data.features)
    return model.fit(prepare_features(df, config.data.features), df["churned"])


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss"])
def test_realised_labels_give_scikit_learns_metric(metric: str) -> None:
    from sklearn import metrics as m

    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    score = np.round(np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1), 2)  # ties on purpose
    pred = score > 0.5
    expected = {
        "roc_auc": lambda: m.roc_auc_score(y, score),
        "pr_auc": lambda: m.average_precision_score(y, score),
        "accuracy": lambda: m.accuracy_score(y, pred),
        "precision": lambda: m.precision_score(y, pred, zero_division=0),
        "recall": lambda: m.recall_score(y, pred, zero_division=0),
        "f1": lambda: m.f1_score(y, pred, zero_division=0),
        "log_loss": lambda: m.log_loss(y, score, labels=[0, 1]),
    }[metric]()
    assert metric_rows(metric, y.astype(float), pred, score)[0] == pytest.approx(expected, abs=1e-9)


def test_two_hundred_rows_are_estimated_with_a_wide_honest_band(example_config) -> None:
    config = configured(example_config, min_reference_rows=100)
    model = fit(config, churn(3000, seed=1))
    result = estimate_performance(model, churn(200, seed=2), churn(200, seed=3), config)
    assert result.evaluated, result.reason
    assert result.rows == 200 and result.reference_rows == 200
    assert result.lower < result.estimated_value < result.upper
    assert 0.01 < result.se < 0.1  # 200 rows: a band of several points, not a false precision
    realised = realised_performance(model, churn(200, seed=3), config, "roc_auc")
    assert abs(result.estimated_value - realised) < 3 * result.se


def test_string_label_whose_positive_class_sorts_first(example_config) -> None:
    """classes_ is ['churn', 'stay']: the positive class is column 0, not column 1."""
    config = configured(example_config)
    data = config.model_dump(mode="json", exclude_unset=True)
    data["data"]["positive_class"] = "churn"
    from driftline.config.models import ModelConfig

    config = ModelConfig.model_validate(data)
    labels = ("churn", "stay")
    model = fit(config, churn(3000, seed=1, labels=labels))
    assert list(model.classes_) == ["churn", "stay"]
    current = churn(2000, seed=3, labels=labels)
    result = estimate_performance(model, churn(2000, seed=2, labels=labels), current, config)
    assert result.evaluated, result.reason
    realised = realised_performance(model, current, config, "roc_auc")
    assert realised > 0.7
    assert abs(result.estimated_value - realised) < 3 * result.se
    assert result.details["positive_class"] == "churn"


def test_a_model_without_predict_proba_is_calibrated_from_its_decision_function(example_config) -> None:
    from sklearn.svm import LinearSVC

    config = configured(example_config, metric="accuracy")
    model = fit(config, churn(3000, seed=1), LinearSVC())
    assert not hasattr(model, "predict_proba")
    current = churn(2000, seed=3)
    result = estimate_performance(model, churn(2000, seed=2), current, config)
    assert result.evaluated, result.reason
    assert result.details["score"] == "decision_function"
    assert (
        abs(result.estimated_value - realised_performance(model, current, config, "accuracy")) < 3 * result.se
    )


def test_a_model_with_no_score_at_all_is_not_evaluated(example_config) -> None:
    class PredictOnly:
        classes_ = np.array([0, 1])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return (X["support_calls"].to_numpy() > 2).astype(int)

    config = configured(example_config)
    result = estimate_performance(PredictOnly(), churn(500, seed=2), churn(500, seed=3), config)
    assert not result.evaluated and result.estimated_value is None
    assert "neither predict_proba nor decision_function" in result.reason


def test_log_loss_from_a_decision_function_is_refused(example_config) -> None:
    from sklearn.svm import LinearSVC

    config = configured(example_config, metric="log_loss")
    model = fit(config, churn(2000, seed=1), LinearSVC())
    result = estimate_performance(model, churn(500, seed=2), churn(500, seed=3), config)
    assert not result.evaluated and "log_loss needs predict_proba" in result.reason


def test_an_all_one_class_reference_is_not_evaluated(example_config) -> None:
    config = configured(example_config)
    model = fit(config, churn(2000, seed=1))
    reference = churn(500, seed=2).assign(churned=0)
    result = estimate_performance(model, reference, churn(500, seed=3), config)
    assert not result.evaluated
    assert "0 of the positive class 1" in result.reason and "min_class_rows" in result.reason


def test_nan_scores_are_not_evaluated(example_config) -> None:
    class NanModel:
        classes_ = np.array([0, 1])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(X), dtype=int)

        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            p = np.full(len(X), 0.3)
            p[::7] = np.nan
            return np.column_stack([1 - p, p])

    config = configured(example_config)
    result = estimate_performance(NanModel(), churn(500, seed=2), churn(500, seed=3), config)
    assert not result.evaluated and "NaN or infinite" in result.reason


def test_too_few_reference_rows_is_not_evaluated(example_config) -> None:
    config = configured(example_config, min_reference_rows=300)
    model = fit(config, churn(2000, seed=1))
    result = estimate_performance(model, churn(200, seed=2), churn(500, seed=3), config)
    assert not result.evaluated and "min_reference_rows is 300" in result.reason


def test_covariate_shift_is_tracked_and_the_drop_is_seen(example_config) -> None:
    """More support calls: the same P(y|x), a different mix; accuracy drops and the estimate sees it."""
    config = configured(example_config, metric="accuracy", max_drop=0.02)
    model = fit(config, churn(5000, seed=1))
    current = churn(3000, seed=3, shift=0.5)
    result = estimate_performance(model, churn(3000, seed=2), current, config)
    realised = realised_performance(model, current, config, "accuracy")
    assert result.evaluated, result.reason
    assert result.lower <= realised <= result.upper
    assert result.reference_value - realised > 0.02  # the drop is real ...
    assert result.dropped, result.reason  # ... and seen without a label


def test_concept_shift_is_not_seen(example_config) -> None:
    """The relation flips: the realised AUC collapses, the estimate stays near the reference (documented)."""
    config = configured(example_config)
    model = fit(config, churn(3000, seed=1))
    current = churn(2000, seed=3, concept=True)
    result = estimate_performance(model, churn(2000, seed=2), current, config)
    realised = realised_performance(model, current, config, "roc_auc")
    assert realised < 0.4 and result.estimated_value > 0.7 and not result.dropped


def test_dle_estimates_regression_mae_under_covariate_shift(example_config) -> None:
    from driftline.training.estimators import make_pipeline, prepare_features
    from sklearn.linear_model import LinearRegression

    config = configured(example_config, task="regression")
    rng = np.random.default_rng(0)

    def frame(n: int, shift: float, seed: int) -> pd.DataFrame:
        df = churn(n, seed=seed, shift=shift)
        x = df["monthly_charges"].to_numpy()
        noise = rng.normal(0, 1 + np.abs(x - 60) / 10, n)  # heteroscedastic: the loss depends on x
        return df.assign(churned=0.5 * x + noise)

    train = frame(3000, 0.0, 1)
    model = make_pipeline(LinearRegression(), config.data.features)
    model.fit(prepare_features(train, config.data.features), train["churned"])
    current = frame(3000, 0.6, 3)
    result = estimate_performance(model, frame(3000, 0.0, 2), current, config)
    realised = realised_performance(model, current, config, "mae")
    assert result.evaluated and result.method == "dle", result.reason
    assert result.estimated_value > result.reference_value  # the shift moves rows where errors are larger
    assert abs(result.estimated_value - realised) < 3 * result.se + 0.05 * realised


def test_unsupported_metrics_and_tasks_fail_at_config_time(example_config) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"drift.performance_estimation.metric to one of roc_auc"):
        configured(example_config, metric="rmse")
    with pytest.raises(ValidationError, match=r"registry.metric 'r2' is not estimated"):
        from driftline.config.models import ModelConfig

        data = example_config.model_dump(mode="json", exclude_unset=True)
        data["training"]["task"] = "regression"
        data["registry"].update(metric="r2")
        data.setdefault("drift", {})["performance_estimation"] = {"enabled": True}
        ModelConfig.model_validate(data)
    with pytest.raises(ValidationError, match=r"'multiclass_classification' has no label-free estimate"):
        configured(example_config, task="multiclass_classification")


def test_compare_with_realised_records_both_and_the_coverage() -> None:
    estimate = {"metric": "roc_auc", "estimated_value": 0.8, "lower": 0.75, "upper": 0.85}
    row = compare_with_realised(estimate, 0.77, labelled_rows=900, estimated_rows=1000)
    assert row["covered"] is True and row["error"] == pytest.approx(0.03) and row["coverage"] == 0.9
    assert compare_with_realised(estimate, 0.7, 10, 10)["covered"] is False
    assert compare_with_realised(estimate, float("nan"), 10, 10)["realised"] is None
