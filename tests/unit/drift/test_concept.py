"""Concept drift pieces that need no registry: direction-aware drops and labelled rows."""

from __future__ import annotations

import pandas as pd
import pytest
from driftline.drift.concept import ConceptDriftResult, evaluate_concept_drift, labelled_rows, metric_drop
from driftline.exceptions import DriftInputError


def test_metric_drop_is_direction_aware() -> None:
    assert metric_drop(0.80, 0.70, "maximize") == pytest.approx(0.10)  # auc fell: worse
    assert metric_drop(0.30, 0.40, "minimize") == pytest.approx(0.10)  # rmse rose: worse
    assert metric_drop(0.30, 0.20, "minimize") == pytest.approx(-0.10)  # better


def test_labelled_rows_from_the_window_or_a_labels_source(example_config) -> None:
    current = pd.DataFrame({"customer_id": ["a", "b", "c"], "churned": [1, None, 0], "x": [1, 2, 3]})
    assert list(labelled_rows(current, example_config)["customer_id"]) == ["a", "c"]
    labels = pd.DataFrame({"customer_id": ["b", "b", "c", "z"], "churned": [0, 1, None, 1]})
    joined = labelled_rows(current, example_config, labels)
    assert joined[["customer_id", "churned"]].to_dict("records") == [{"customer_id": "b", "churned": 1}]
    with pytest.raises(DriftInputError, match="no column"):
        labelled_rows(current, example_config, labels.drop(columns=["churned"]))


def test_missing_reference_metric_or_labels_is_not_evaluated(example_config) -> None:
    rows = pd.DataFrame({"churned": [1] * 10})
    result = evaluate_concept_drift(None, rows, example_config, None)
    assert (result.evaluated, result.drifted) == (False, None)
    assert result.reason == "the champion has no registered 'roc_auc' value to compare with"
    result = evaluate_concept_drift(None, rows, example_config, 0.8)
    assert result.reason == "only 10 labelled rows, drift.concept.min_labels is 100"
    assert ConceptDriftResult.from_dict(result.to_dict()) == result
