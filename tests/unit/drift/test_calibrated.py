"""Calibrated drift decisions: two-sample tests, resampled nulls, Holm, and their level at small n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftline.drift import calibrated as cal
from driftline.drift.column_tests import calibrated_column_drift
from driftline.drift.data_drift import DriftSettings, compute_data_drift
from driftline.drift.stats import chisquare_counts

P20 = np.linspace(1, 3, 20) / np.linspace(1, 3, 20).sum()


def test_two_sample_chi_square_holds_its_level_where_the_goodness_of_fit_one_does_not() -> None:
    """200 vs 200 rows, 20 categories, same distribution: the old test false-alarms far above 5%."""
    rng = np.random.default_rng(3)
    reps = 400
    two_sample = goodness_of_fit = 0
    for _ in range(reps):
        ref, cur = rng.multinomial(200, P20), rng.multinomial(200, P20)
        two_sample += cal.chi2_two_sample(ref, cur)[1] < 0.05
        goodness_of_fit += chisquare_counts(ref, cur) < 0.05
    se = np.sqrt(0.05 * 0.95 / reps)
    assert two_sample / reps <= 0.05 + 2.5 * se  # 0.05 + 0.027
    assert goodness_of_fit / reps > 0.4


def test_sparse_categories_are_pooled_and_a_single_category_is_not_a_test() -> None:
    ref, cur = cal.pool_sparse(np.array([100, 100, 1, 2, 0]), np.array([90, 110, 0, 1, 3]))
    # the pooled rest (7 rows) is still too small: it joins the smallest remaining category
    assert ref.tolist() == [103.0, 100.0] and cur.tolist() == [94.0, 110.0]
    assert cal.chi2_two_sample(np.array([50]), np.array([60])) == (0.0, 1.0)
    # a category only the current window has, with enough rows, is drift
    assert cal.chi2_two_sample(np.array([500, 500, 0]), np.array([80, 80, 40]))[1] < 1e-6


def test_distance_null_is_seeded_cached_and_depends_on_the_current_size() -> None:
    counts = np.array([50.0, 30.0, 20.0]) * 100
    a = cal.null_distribution("jensenshannon", counts, 200, resamples=300, seed=1)
    assert cal.null_distribution("jensenshannon", counts, 200, resamples=300, seed=1) is a  # cached
    b = cal.null_distribution("jensenshannon", counts, 5000, resamples=300, seed=1)
    assert np.quantile(a, 0.95) > 3 * np.quantile(b, 0.95)  # small windows: larger distances by chance


@pytest.mark.slow
@pytest.mark.parametrize("method", ["wasserstein", "jensenshannon", "psi"])
def test_a_fixed_distance_threshold_is_replaced_by_significance_plus_minimum_effect(method: str) -> None:
    """20k reference vs 200 current rows of the same distribution: a 0.1 threshold alone false-alarms
    (Evidently: 29-77%); the calibrated decision needs significance against the null at this size."""
    rng = np.random.default_rng(11)
    reps, alarms = 60, 0
    for r in range(reps):
        ref = pd.Series(rng.choice([f"k{i}" for i in range(20)], 20_000, p=P20))
        cur = pd.Series(rng.choice([f"k{i}" for i in range(20)], 200, p=P20))
        if method == "wasserstein":
            ref, cur = pd.Series(rng.lognormal(0, 1, 20_000)), pd.Series(rng.lognormal(0, 1, 200))
        kind = "num" if method == "wasserstein" else "cat"
        verdict = calibrated_column_drift("x", ref, cur, kind, method, 1e-9, resamples=200, seed=r)
        alarms += bool(verdict.drifted)
    assert alarms / reps <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)


def test_holm_adjusts_and_keeps_order() -> None:
    assert cal.holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert cal.holm_adjust([]) == []


def test_dataset_decision_uses_holm_and_records_raw_and_adjusted_p_values() -> None:
    rng = np.random.default_rng(0)
    n = 400
    ref = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    cur = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    cur["x0"] += 1.0
    cur["x1"] += 1.0
    result = compute_data_drift(ref, cur, DriftSettings(column_types=dict.fromkeys(ref.columns, "num")))
    assert result.drifted_columns == ["x0", "x1"] and result.dataset_drift is True
    x0 = result.columns["x0"]
    assert x0.decision == "calibrated" and x0.p_value is not None and x0.p_adjusted is not None
    assert x0.p_adjusted >= x0.p_value
    assert "Holm" in result.engine


def test_evidently_decision_is_still_available() -> None:
    rng = np.random.default_rng(0)
    ref, cur = pd.DataFrame({"x": rng.normal(size=3000)}), pd.DataFrame({"x": rng.normal(size=300)})
    result = compute_data_drift(ref, cur, DriftSettings(column_types={"x": "num"}, decision="evidently"))
    assert result.columns["x"].method == "wasserstein" and result.columns["x"].decision == "evidently"


@pytest.mark.slow
def test_the_calibrated_tests_are_plugged_into_evidentlys_registry() -> None:
    from driftline.drift.evidently_tests import register
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType as EvColumnType

    register()
    register()  # idempotent
    rng = np.random.default_rng(1)
    ref, cur = pd.Series(rng.normal(size=500)), pd.Series(rng.normal(0.5, 1, size=500))
    test = get_stattest(ref, cur, EvColumnType.Numerical, "driftline_ks")
    result = test(ref, cur, EvColumnType.Numerical, 0.05)
    assert result.drifted is True and result.drift_score < 1e-6


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "hellinger", "kl_div"])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_the_rebinned_permutation_recomputes_the_observed_statistic_on_the_observed_split(
    method: str, kind: str
) -> None:
    """The null's statistic must be the observed one: bins cut again at each pseudo-reference's quantiles."""
    rng = np.random.default_rng(5)
    if kind == "continuous":
        ref, cur = np.sort(rng.normal(size=300)), np.sort(rng.normal(0.3, 1.2, size=170))
    else:  # few distinct integers: quantiles land on ties, duplicate edges collapse
        ref, cur = (
            np.sort(rng.poisson(2, size=300).astype(float)),
            np.sort(rng.poisson(2.5, size=170).astype(float)),
        )
    edges = cal.reference_bins(ref)
    expected = cal.share_distance(
        method, cal.binned_counts(ref, edges) / ref.size, cal.binned_counts(cur, edges) / cur.size
    )
    values = np.unique(np.concatenate([ref, cur]))
    ref_mult = np.searchsorted(ref, values, "right") - np.searchsorted(ref, values, "left")
    cur_mult = np.searchsorted(cur, values, "right") - np.searchsorted(cur, values, "left")
    split = cal.rebinned_distances(
        method, values, np.stack([ref_mult, ref_mult]), np.stack([cur_mult, cur_mult])
    )
    assert split == pytest.approx([float(expected)] * 2, rel=1e-12, abs=1e-15)


@pytest.mark.slow
def test_psi_at_equal_small_sizes_holds_its_level_with_the_rebinned_null() -> None:
    """Same distribution, 1000 vs 1000 rows (the cell that showed 7.0% with the reference's fixed bins)."""
    rng = np.random.default_rng(11)
    reps = 200
    alarms = 0
    for i in range(reps):
        ref, cur = pd.Series(rng.normal(size=1000)), pd.Series(rng.normal(size=1000))
        alarms += calibrated_column_drift("x", ref, cur, "num", "psi", 0.0, resamples=199, seed=i).drifted
    se = np.sqrt(0.05 * 0.95 / reps)
    assert alarms / reps <= 0.05 + 2.5 * se
