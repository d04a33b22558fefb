"""The fast statistics agree with a real Evidently run on the same (full) data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftline.drift import stats
from driftline.drift.data_drift import DriftSettings, compute_data_drift
from driftline.drift.report import column_verdicts, run_preset
from scipy import stats as sps

EVIDENTLY_NAMES = {
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "ks": "K-S p_value",
    "chisquare": "chi-square p_value",
    "z": "Z-test p_value",
}


def _agree(make_frames, col_types, n_ref: int, n_cur: int, shift: float, method: str | None) -> None:
    reference, current = make_frames(n_ref, n_cur, shift)
    settings = DriftSettings(column_types=col_types, method=method, decision="evidently")
    ours = compute_data_drift(reference, current, settings)
    per_column = {c: settings.method_for(c)[0] for c in col_types if settings.method_for(c)[0]}
    snap = run_preset(reference, current, col_types, drift_share=0.5, per_column_method=per_column or None)
    theirs = column_verdicts(snap)
    for name in col_types:
        mine, ev = ours.columns[name], theirs[name]
        assert mine.statistic == pytest.approx(ev["statistic"], rel=1e-9, abs=1e-12), name
        assert mine.drifted == ev["drifted"], name
        assert mine.threshold == pytest.approx(ev["threshold"]), name
        assert ev["method"] in (mine.method, EVIDENTLY_NAMES.get(mine.method)), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n_ref", "n_cur", "shift"),
    [
        (5_000, 4_000, 0.3),  # large: wasserstein / jensenshannon
        (20_000, 20_000, 0.04),  # large, subtle shift
        (800, 600, 0.3),  # small: ks / chisquare / z
        (300, 2_000, 0.5),  # small reference, larger current
        (1_000, 1_000, 0.0),  # the boundary: 1000 reference rows still use small-sample tests
    ],
)
def test_default_methods_agree_with_evidently(frames, types, n_ref: int, n_cur: int, shift: float) -> None:
    _agree(frames, types, n_ref, n_cur, shift, None)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["psi", "jensenshannon", "kl_div", "hellinger"])
@pytest.mark.parametrize(("n_ref", "n_cur"), [(3_000, 2_500), (500, 700)])
def test_configured_methods_agree_with_evidently(frames, types, method: str, n_ref: int, n_cur: int) -> None:
    _agree(frames, types, n_ref, n_cur, 0.3, method)


@pytest.mark.slow
def test_numeric_only_methods_agree_on_numeric_columns(frames, types) -> None:
    reference, current = frames(2_000, 1_500, 0.2)
    num = {c: t for c, t in types.items() if t == "num"}
    for method in ("ks", "wasserstein"):
        settings = DriftSettings(column_types=num, method=method, decision="evidently")
        ours = compute_data_drift(reference, current, settings)
        theirs = column_verdicts(run_preset(reference, current, num, drift_share=0.5, method=method))
        for name in num:
            assert ours.columns[name].statistic == pytest.approx(
                theirs[name]["statistic"], rel=1e-9, abs=1e-12
            )
            assert ours.columns[name].drifted == theirs[name]["drifted"]


def test_default_thresholds_match_evidently() -> None:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    for name, threshold in stats.DEFAULT_THRESHOLDS.items():
        tests = _registered_stat_tests[name]
        assert {t.default_threshold for t in tests.values()} == {threshold}, name
        allowed = {"num" if ft.value == "num" else "cat" for ft in tests}
        assert allowed == set(stats.METHOD_TYPES[name]), name


def test_wasserstein_matches_scipy_with_ties_and_unequal_sizes() -> None:
    rng = np.random.default_rng(3)
    u = np.round(rng.normal(0, 1, 7_001), 1)
    v = np.round(rng.normal(0.2, 1.3, 5_003), 1)
    us, vs = np.sort(u), np.sort(v)
    merged = np.sort(np.concatenate([us, vs]))
    assert stats.wasserstein_sorted(us, vs, merged) == pytest.approx(
        sps.wasserstein_distance(u, v), rel=1e-12
    )


def test_shifted_columns_flagged_unshifted_not(frames, types) -> None:
    reference, current = frames(5_000, 5_000, 0.5)
    result = compute_data_drift(reference, current, DriftSettings(column_types=types))
    drifted = set(result.drifted_columns)
    assert {"normal", "skewed", "nullish", "few_values", "plan"} <= drifted
    assert not drifted & {"stable", "constant", "coin"}


def test_method_not_applicable_to_column_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply to cat column 'c'"):
        stats.column_drift("c", pd.Series(["a", "b"]), pd.Series(["a"]), "cat", method="wasserstein")


def test_is_drifted_directions() -> None:
    assert stats.is_drifted("wasserstein", 0.1, 0.1)  # distances: at or above
    assert not stats.is_drifted("wasserstein", 0.099, 0.1)
    assert stats.is_drifted("ks", 0.05, 0.05)  # ks: at or below
    assert not stats.is_drifted("chisquare", 0.05, 0.05)  # chisquare / z: strictly below
    assert stats.is_drifted("z", 0.049, 0.05)
