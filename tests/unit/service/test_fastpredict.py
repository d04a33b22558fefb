"""The fast predict_proba of HistGradientBoosting champions (driftline.service.fastpredict): exactly
the estimator's own probabilities, or not used at all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from driftline.service import scorer as scorer_module
from driftline.service.fastpredict import compile_hgb, verified
from driftline.service.scorer import compile_scorer, probe_rows

pytestmark = pytest.mark.slow  # trains models


def hostile_matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    """Column 0 categorical codes: known, unseen, negative, nan; column 1 numbers with nan and inf."""
    cat = rng.choice([0.0, 1.0, 2.0, 3.0, 7.0, -1.0, np.nan, 2.5], size=n)
    num = rng.normal(size=n)
    num[::9] = np.nan
    num[::13] = np.inf
    return np.column_stack([cat, num])


@pytest.mark.parametrize("classes", [2, 3])
def test_fast_probabilities_equal_predict_proba_on_unknown_and_missing_values(classes: int) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(4)
    X = np.column_stack([rng.choice([0.0, 1.0, 2.0, 3.0, np.nan], size=600), rng.normal(size=600)])
    y = (np.nan_to_num(X[:, 0], nan=1) + (X[:, 1] > 0)).astype(int) % classes
    model = HistGradientBoostingClassifier(max_iter=30, categorical_features=[True, False]).fit(X, y)
    fast = compile_hgb(model)
    assert fast is not None
    probe = hostile_matrix(rng, 500)
    np.testing.assert_array_equal(fast(probe), model.predict_proba(probe))
    np.testing.assert_array_equal(fast(probe[:1]), model.predict_proba(probe[:1]))
    assert verified(fast, model, probe, probe)


def test_without_categorical_features_the_fast_path_is_the_same_too() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    X[::7, 1] = np.nan
    model = HistGradientBoostingClassifier(max_iter=20).fit(X, X[:, 0] > 0)
    fast = compile_hgb(model)
    assert fast is not None
    np.testing.assert_array_equal(fast(X[:50]), model.predict_proba(X[:50]))


def test_other_estimators_get_no_fast_path() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(6).normal(size=(200, 2))
    y = X[:, 0] > 0
    assert compile_hgb(LogisticRegression().fit(X, y)) is None
    assert compile_hgb(HistGradientBoostingRegressor(max_iter=5).fit(X, X[:, 0])) is None
    assert compile_hgb(HistGradientBoostingClassifier(max_iter=5)) is None  # not fitted


def test_the_churn_champion_is_scored_by_the_fast_path(example_config_session: Any, churn_model: Any) -> None:
    config = example_config_session
    scorer = compile_scorer(churn_model, config, 1)
    assert scorer.mode == "compiled" and scorer.fast is not None
    _, X = scorer.matrix({"rows": probe_rows(scorer, 300)}, 1000)
    fast = scorer.score(X)
    scorer.fast = None
    slow = scorer.score(X)
    assert fast == slow  # every prediction and score, exactly


def test_a_fast_path_that_differs_is_not_used(
    example_config_session: Any, churn_model: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    real = compile_hgb(churn_model[-1])
    assert real is not None

    def off_by_a_little(X: np.ndarray) -> np.ndarray:
        out = real(X)
        out[-1, 0] += 1e-12
        return out

    monkeypatch.setattr(scorer_module, "compile_hgb", lambda estimator: off_by_a_little)
    scorer = compile_scorer(churn_model, example_config_session, 1)
    assert scorer.mode == "compiled" and scorer.fast is None
    assert "fast predict_proba differs" in caplog.text
