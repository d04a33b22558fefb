"""build_estimator / fit_model: class paths, callables under include/, categorical and bool features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from driftline.config.models import Estimator, Feature
from driftline.exceptions import PermanentError
from driftline.training.errors import TrainingInputError
from driftline.training.estimators import build_estimator, fit_model, prepare_features

FEATURES = [
    Feature(name="tenure_months", type="int"),
    Feature(name="monthly_charges", type="float"),
    Feature(name="plan", type="category"),
    Feature(name="autopay", type="bool"),
]


def test_unknown_class_names_the_class_path_and_field() -> None:
    with pytest.raises(TrainingInputError) as exc:
        build_estimator(Estimator(class_path="sklearn.ensemble.NoSuchForest"))
    assert isinstance(exc.value, PermanentError)
    assert "training.estimator.class_path 'sklearn.ensemble.NoSuchForest'" in str(exc.value)
    with pytest.raises(TrainingInputError, match=r"cannot import module .nosuchpkg\.models."):
        build_estimator(Estimator(class_path="nosuchpkg.models.Model"))


def test_unknown_params_are_named() -> None:
    cfg = Estimator(class_path="sklearn.linear_model.LogisticRegression", params={"max_iters": 5, "C": 1.0})
    with pytest.raises(TrainingInputError, match=r"LogisticRegression does not accept \['max_iters'\]"):
        build_estimator(cfg)


def test_rejected_param_values_are_named_before_fitting() -> None:
    cfg = Estimator(
        class_path="sklearn.ensemble.HistGradientBoostingClassifier", params={"learning_rate": -1}
    )
    with pytest.raises(TrainingInputError, match=r"training.estimator.params \['learning_rate'\] rejected"):
        build_estimator(cfg)


@pytest.mark.parametrize(
    "class_path",
    ["sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.linear_model.LogisticRegression"],
)
def test_categorical_and_bool_features_fit_into_one_pipeline(
    churn_frame: pd.DataFrame, class_path: str
) -> None:
    from sklearn.pipeline import Pipeline

    X = prepare_features(churn_frame, FEATURES)
    y = churn_frame["churned"]
    model = fit_model(Estimator(class_path=class_path), FEATURES, X, y)
    assert isinstance(model, Pipeline)
    unseen = X.head(3).copy()
    unseen["plan"] = ["gold", None, "basic"]  # unknown and missing categories still score
    proba = model.predict_proba(unseen)
    assert proba.shape == (3, 2)
    if "HistGradientBoosting" in class_path:
        assert list(model.named_steps["estimator"].categorical_features) == [True, False, False, False]


def test_callable_under_include_receives_raw_features(
    churn_frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "my_churn_model.py").write_text(
        "from sklearn.ensemble import RandomForestClassifier\n"
        "def fit(X, y, params):\n"
        "    assert list(X.columns) == ['tenure_months', 'monthly_charges']\n"
        "    return RandomForestClassifier(**params).fit(X, y)\n"
    )
    monkeypatch.setenv("DRIFTLINE_PROJECT_ROOT", str(tmp_path))
    features = FEATURES[:2]
    cfg = Estimator(callable="my_churn_model:fit", params={"n_estimators": 5, "random_state": 0})
    model: Any = fit_model(cfg, features, prepare_features(churn_frame, features), churn_frame["churned"])
    assert model.n_estimators == 5
    with pytest.raises(TrainingInputError, match="'my_churn_model' has no function 'nope'"):
        build_estimator(Estimator(callable="my_churn_model:nope"))
