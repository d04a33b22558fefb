"""Drift calls on data with known properties: calendar columns, label shares, predictions, concept intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftline.config.models import ModelConfig
from driftline.drift.concept import evaluate_concept_drift
from driftline.drift.data_drift import DriftSettings, compute_data_drift, settings_from_config
from driftline.drift.report import report_columns, should_build
from driftline.drift.target import TargetDriftResult, label_drift, prediction_drift
from pydantic import ValidationError


def _year(n: int, seed: int = 0) -> pd.DataFrame:
    """A year of rows: calendar columns vary, `x` is stationary."""
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")
    return pd.DataFrame(
        {
            "month": ts.month.astype("int64"),
            "weekday": ts.day_name().astype("object"),
            "x": rng.normal(0, 1, n),
        }
    )


def _one_day(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"month": np.full(n, 7), "weekday": ["Tuesday"] * n, "x": rng.normal(0, 1, n)})


TYPES = {"month": "num", "weekday": "cat", "x": "num"}


def test_calendar_columns_in_a_one_day_window_do_not_trigger_drift() -> None:
    result = compute_data_drift(
        _year(20_000), _one_day(2000), DriftSettings(column_types=TYPES, drift_share=0.3)
    )
    assert result.constant_in_window == ["month", "weekday"]
    assert result.dataset_drift is False and result.drifted_columns == []
    assert result.number_of_columns == 1  # only x is counted
    month = result.columns["month"]
    assert month.status == "constant_in_window" and month.drifted is None
    assert month.statistic is not None and "would drift" in str(month.reason)
    # The same data without the rule: 2 of 3 columns drift and the dataset drifts on calendar artefacts.
    naive = compute_data_drift(
        _year(20_000),
        _one_day(2000),
        DriftSettings(column_types=TYPES, drift_share=0.3, constant_in_window="drift"),
    )
    assert naive.drifted_columns == ["month", "weekday"] and naive.dataset_drift is True


def test_a_constant_value_the_reference_never_had_is_drift() -> None:
    # seed 3: x's own two-sample KS p-value is 0.25 (seed 1 gives 0.038, a 5%-level false alarm of x)
    current = _one_day(500, seed=3).assign(month=13, weekday="Caturday")
    result = compute_data_drift(_year(5000), current, DriftSettings(column_types=TYPES))
    assert result.constant_in_window == []
    assert result.drifted_columns == ["month", "weekday"]


def test_per_column_override_of_the_constant_rule() -> None:
    settings = DriftSettings(column_types=TYPES, constant_overrides={"weekday": "drift"})
    result = compute_data_drift(_year(5000), _one_day(500, seed=3), settings)
    assert result.constant_in_window == ["month"] and result.drifted_columns == ["weekday"]


def _config(**drift: object) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "model": {"name": "m"},
            "data": {
                "source": {"kind": "local", "path": "x/{ds}.parquet"},
                "entity_id": "id",
                "timestamp": "ts",
                "label": "y",
                "features": [
                    {"name": "month", "type": "int"},
                    {"name": "weekday", "type": "category"},
                    {"name": "x", "type": "float"},
                ],
            },
            "drift": drift,
            "training": {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"}},
        }
    )


def test_columns_can_be_left_out_or_given_their_own_settings() -> None:
    config = _config(
        exclude=["weekday"],
        columns={"month": {"enabled": False}, "x": {"threshold": 0.2}},
        constant_in_window="drift",
    )
    settings = settings_from_config(config)
    assert settings.column_types == {"x": "num"} and settings.excluded == ("month", "weekday")
    assert settings.method_for("x") == (None, 0.2)
    assert settings.constant_in_window == "drift"
    result = compute_data_drift(_year(3000), _one_day(300), settings)
    assert result.excluded == ["month", "weekday"] and list(result.columns) == ["x"]
    assert config.drift.drift_share == 0.3  # the default lets 1 of 3 columns be dataset drift


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"exclude": ["nope"]}, "drift.exclude names columns that are not features"),
        ({"columns": {"weekday": {"method": "wasserstein"}}}, "does not apply to a categorical column"),
        ({"exclude": ["month", "weekday", "x"]}, "leave no feature to monitor"),
        ({"report": {"when": "sometimes"}}, "report.when"),
    ],
)
def test_drift_config_errors(drift: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**drift)


def _labelled(n: int, positive_share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"month": rng.integers(1, 13, n), "weekday": rng.choice(["Mon", "Tue"], n), "x": rng.normal(0, 1, n)}
    ).assign(y=(rng.random(n) < positive_share).astype("int64"))


def test_a_pure_label_share_change_is_label_drift() -> None:
    config = _config()
    reference, current = _labelled(20_000, 0.10, 1), _labelled(2000, 0.30, 2)
    data = compute_data_drift(reference, current, settings_from_config(config))
    assert data.dataset_drift is False  # the features did not move
    result = label_drift(reference, current, config)
    assert result.evaluated and result.drifted is True and result.retrain is True
    assert result.reference["shares"]["1"] == pytest.approx(0.10, abs=0.01)
    assert result.current["shares"]["1"] == pytest.approx(0.30, abs=0.03)
    assert TargetDriftResult.from_dict(result.to_dict()) == result
    same = label_drift(reference, _labelled(2000, 0.10, 3), config)
    assert same.evaluated and same.drifted is False
    few = label_drift(reference, current.head(20), config)
    assert (few.evaluated, few.drifted) == (False, None) and "min_labels" in few.reason
    off = label_drift(reference, current, _config(label={"enabled": False}))
    assert off.reason == "drift.label.enabled is false"


def test_prediction_drift_follows_the_model_not_the_label() -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    config = _config(prediction={"retrain": False})
    reference = _labelled(5000, 0.2, 4)
    reference["y"] = (reference["x"] + np.random.default_rng(5).normal(0, 1, 5000) > 1).astype("int64")
    encode = make_column_transformer((OrdinalEncoder(), ["weekday"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression()).fit(
        reference[["month", "weekday", "x"]], reference["y"]
    )
    stable = prediction_drift(model, reference, _labelled(3000, 0.2, 6), config)
    assert stable.evaluated and stable.drifted is False and stable.method == "ks"
    shifted = _labelled(3000, 0.2, 7).assign(x=lambda d: d["x"] + 1.5)
    moved = prediction_drift(model, reference, shifted, config)
    assert moved.drifted is True and moved.retrain is False
    assert moved.current["mean"] > moved.reference["mean"]
    assert "P(y=1)" in moved.reason


def test_report_policy_and_bound() -> None:
    assert should_build("on_drift", data_drift=False, label_drift=False, prediction_drift=False)[0] is False
    built, why = should_build("on_drift", data_drift=False, label_drift=True, prediction_drift=False)
    assert built and why.endswith("label drift was detected")
    assert should_build("always", data_drift=False, label_drift=False, prediction_drift=False)[0] is True
    assert should_build("never", data_drift=True, label_drift=True, prediction_drift=True)[0] is False
    ref = _year(3000)
    cur = ref.assign(x=ref["x"] + 2)
    result = compute_data_drift(ref, cur, DriftSettings(column_types=TYPES, constant_in_window="drift"))
    assert report_columns(result, 1) == ["x"]  # drifted first
    assert sorted(report_columns(result, None)) == ["month", "weekday", "x"]


class _Scores:
    """A 'model' whose positive-class probability is a column of the features."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X["x"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X["x"].to_numpy(dtype=float) > 0.5).astype(int)


def _scored(n: int, auc_signal: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype("int64")
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + auc_signal * y)))
    return pd.DataFrame({"month": 1, "weekday": "Mon", "x": score, "y": y})


@pytest.mark.slow
def test_concept_drift_needs_a_drop_beyond_tolerance_that_is_significant() -> None:
    config = _config(concept={"tolerance": 0.02, "min_labels": 50})
    registered = 0.80
    # 100 labels: live AUC 0.71, a drop of 0.09 > tolerance, but not significant on so few rows
    small = evaluate_concept_drift(_Scores(), _scored(100, 1.0, 4), config, registered, reference_se=0.02)
    assert small.evaluated and small.drop > 0.08
    assert small.drifted is False and "not significant" in small.reason
    assert small.interval["lower"] <= 0 < small.interval["upper"]
    # 20k labels with the same weaker signal: significant
    large = evaluate_concept_drift(_Scores(), _scored(20_000, 0.9, 2), config, registered, reference_se=0.005)
    assert large.drifted is True and large.interval["lower"] > 0
    assert large.interval["se"] == pytest.approx(np.hypot(0.005, large.interval["live_se"]))
    # no recorded standard error: said so
    unknown = evaluate_concept_drift(_Scores(), _scored(20_000, 0.9, 2), config, registered)
    assert "no recorded standard error" in unknown.reason
