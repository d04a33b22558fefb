"""Lan-DeMets O'Brien-Fleming-type bounds against published values (gsDesign sfLDOF, one-sided 0.025)."""

from __future__ import annotations

import pytest
from driftline.experiments.group_sequential import equally_spaced, obf_bounds

PUBLISHED = {
    3: [3.7103, 2.5114, 1.9930],
    4: [4.3326, 2.9631, 2.3590, 2.0141],
    5: [4.8769, 3.3569, 2.6803, 2.2898, 2.0310],
}


@pytest.mark.parametrize("looks", sorted(PUBLISHED))
def test_bounds_match_the_published_values(looks):
    assert obf_bounds(equally_spaced(looks), 0.025) == pytest.approx(PUBLISHED[looks], abs=2e-3)


def test_total_crossing_probability_is_alpha_by_scipys_multivariate_normal():
    import numpy as np
    from scipy import stats

    for looks in (2, 6):
        t = np.array(equally_spaced(looks))
        cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
        below = stats.multivariate_normal(mean=np.zeros(looks), cov=cov).cdf(np.array(obf_bounds(list(t))))
        assert 1 - below == pytest.approx(0.025, abs=2e-4)


def test_one_look_is_the_fixed_design_and_bad_fractions_are_refused():
    from driftline.experiments.errors import ExperimentInputError

    assert obf_bounds([1.0], 0.025) == pytest.approx([1.95996], abs=1e-4)
    with pytest.raises(ExperimentInputError, match="increase"):
        obf_bounds([0.5, 0.4, 1.0])


def test_28_daily_looks_spend_alpha_by_simulation():
    """Type-I error of the 28-look design under the null, by simulation (MC error about 0.002)."""
    import numpy as np

    looks = 28
    bounds = np.array(obf_bounds(equally_spaced(looks), 0.025))
    rng = np.random.default_rng(0)
    steps = rng.normal(0, 1, (40_000, looks)).cumsum(axis=1)
    z = steps / np.sqrt(np.arange(1, looks + 1))
    rejected = (z >= bounds).any(axis=1).mean()
    assert abs(rejected - 0.025) < 0.0035, rejected
