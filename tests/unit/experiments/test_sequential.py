"""The mSPRT: formulas, confidence sequence, and its type-I error under continuous monitoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftline.experiments.errors import ExperimentInputError
from driftline.experiments.sequential import half_width, msprt, samples_to_detect


def test_likelihood_ratio_and_interval_agree() -> None:
    r = msprt(10.0, 4.0, 1000, 10.3, 4.0, 1000, alpha=0.05, mixing_variance=0.04)
    s2 = 8.0 / 1000
    expected = 0.5 * math.log(s2 / (s2 + 0.04)) + 0.04 * 0.3**2 / (2 * s2 * (s2 + 0.04))
    assert r.log_likelihood_ratio == pytest.approx(expected)
    assert r.p_value == pytest.approx(math.exp(-expected))
    # 0 is outside the confidence sequence exactly when p <= alpha.
    assert (r.lower > 0) == (r.p_value <= 0.05)
    # At the interval's edge the likelihood ratio against that null is exactly 1/alpha.
    edge = msprt(10.0, 4.0, 1000, 10.3, 4.0, 1000, alpha=0.05, mixing_variance=0.04, null=r.lower)
    assert edge.p_value == pytest.approx(0.05)


def test_interval_shrinks_with_samples_and_sizing_finds_it() -> None:
    widths = [half_width(8.0 / n, alpha=0.05, mixing_variance=0.04) for n in (100, 1000, 10_000, 100_000)]
    assert widths == sorted(widths, reverse=True)
    n = samples_to_detect(4.0, 4.0, 1.0, 0.2, alpha=0.05, mixing_variance=0.04)
    assert n is not None
    assert half_width(8.0 / n, alpha=0.05, mixing_variance=0.04) < 0.2
    assert half_width(8.0 / (n - 1), alpha=0.05, mixing_variance=0.04) >= 0.2
    assert samples_to_detect(4.0, 4.0, 1.0, 0.0, alpha=0.05, mixing_variance=0.04) is None


def test_bad_arguments() -> None:
    with pytest.raises(ExperimentInputError, match="alpha"):
        msprt(0, 1, 10, 0, 1, 10, alpha=1.5, mixing_variance=1)
    with pytest.raises(ExperimentInputError, match="mixing variance"):
        msprt(0, 1, 10, 0, 1, 10, alpha=0.05, mixing_variance=0)
    with pytest.raises(ExperimentInputError, match="at least 2 observations"):
        msprt(0, 1, 1, 0, 1, 10, alpha=0.05, mixing_variance=1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["normal", "binary"])
def test_type_one_error_under_continuous_monitoring(kind: str) -> None:
    """2,000 A/A experiments, each looked at after every one of 60 daily batches: at most alpha reject."""
    rng = np.random.default_rng(14 if kind == "normal" else 41)
    sims, looks, batch, alpha = 2000, 60, 50, 0.05
    if kind == "normal":
        a = rng.normal(5.0, 3.0, (sims, looks * batch))
        b = rng.normal(5.0, 3.0, (sims, looks * batch))
        tau2 = 0.3**2
    else:
        a = (rng.random((sims, looks * batch)) < 0.1).astype(float)
        b = (rng.random((sims, looks * batch)) < 0.1).astype(float)
        tau2 = 0.02**2

    # Running sums per look, so each look costs O(sims).
    def running(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shaped = x.reshape(sims, looks, batch)
        return shaped.sum(axis=2).cumsum(axis=1), (shaped**2).sum(axis=2).cumsum(axis=1)

    (sa, qa), (sb, qb) = running(a), running(b)
    ever = np.zeros(sims, dtype=bool)
    for look in range(1, looks):  # the first look after 2 batches (100 per arm)
        n = (look + 1) * batch
        ma, mb = sa[:, look] / n, sb[:, look] / n
        va, vb = (qa[:, look] - n * ma**2) / (n - 1), (qb[:, look] - n * mb**2) / (n - 1)
        for i in np.flatnonzero(~ever):
            r = msprt(ma[i], va[i], n, mb[i], vb[i], n, alpha=alpha, mixing_variance=tau2)
            ever[i] = r.p_value <= alpha
    # A fixed-horizon test checked at every one of 59 looks would reject in roughly a quarter of them.
    assert ever.mean() <= alpha
