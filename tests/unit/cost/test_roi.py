from __future__ import annotations

import numpy as np
import pytest
from driftline.cost.roi import ArmSummary, pool, roi


def summary(x):
    return ArmSummary(len(x), float(np.mean(x)), float(np.var(x, ddof=1)))


def test_pool_matches_concatenation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 2, 300), rng.normal(3, 1, 120)
    pooled = pool({"champion": summary(a), "challenger": summary(b)})
    both = np.concatenate([a, b])
    assert pooled.n == 420
    assert pooled.mean == pytest.approx(both.mean())
    assert pooled.var == pytest.approx(both.var(ddof=1))


def test_roi_figures():
    arms = {
        "champion": {"n": 9000, "kpi_mean": 0.80, "kpi_var": 0.16},
        "no_model": {"n": 1000, "kpi_mean": 0.75, "kpi_var": 0.1875},
    }
    r = roi(arms, cost=100.0, value_per_event=10.0)
    assert r.measurable
    assert r.uplift == pytest.approx(0.05)
    se = (0.16 / 9000 + 0.1875 / 1000) ** 0.5
    assert r.uplift_high - r.uplift == pytest.approx(1.959964 * se, rel=1e-5)
    assert r.value == pytest.approx(0.05 * 9000 * 10)
    assert r.roi == pytest.approx((4500 - 100) / 100)
    assert r.roi_low == pytest.approx((r.uplift_low * 90000 - 100) / 100)
    assert "ROI +4400.0%" in r.describe()
    # a few seconds of local tasks cost next to nothing: a huge ratio, said with its caveat
    tiny = roi(arms, cost=0.0002, value_per_event=10.0)
    assert tiny.roi is not None and tiny.roi > 1e6
    text = tiny.describe()
    assert "ROI +2.25e+09% [" in text and "value 4,500.00 USD" in text
    assert text.endswith("(the recorded cost is below 0.01 USD: the ratio says little)")


def test_roi_is_never_invented():
    no_holdout = roi({"champion": {"n": 100, "kpi_mean": 1, "kpi_var": 1}}, cost=1.0, value_per_event=1.0)
    assert not no_holdout.measurable and no_holdout.roi is None
    assert no_holdout.describe().startswith("ROI cannot be measured: no 'no_model' holdout arm")
    no_value = roi(
        {"champion": {"n": 100, "mean": 1, "var": 1}, "no_model": {"n": 100, "mean": 0, "var": 1}},
        cost=1.0,
        value_per_event=None,
    )
    assert not no_value.measurable and "value_per_event" in (no_value.reason or "")


def test_interval_covers_true_uplift_at_nominal_rate():
    """2,000 simulated experiments (Bernoulli KPI, 90/10 split): the 95% interval covers the truth ~95%."""
    rng = np.random.default_rng(20260315)
    sims, n_model, n_hold = 2000, 1800, 200
    p_model, p_hold = 0.30, 0.25
    covered = 0
    for _ in range(sims):
        m = rng.random(n_model) < p_model
        h = rng.random(n_hold) < p_hold
        r = roi({"champion": summary(m), "no_model": summary(h)}, cost=10.0, value_per_event=1.0)
        covered += r.uplift_low <= p_model - p_hold <= r.uplift_high
    rate = covered / sims
    # binomial sd at 95% over 2000 sims is ~0.5 points: allow 3 sd either side
    assert 0.935 <= rate <= 0.965, rate


def test_zero_events_in_the_holdout_still_gives_an_interval_and_a_plain_warning():
    from driftline.cost.roi import roi

    arms = {
        "champion": {"n": 1900, "kpi_mean": 0.02, "kpi_var": 0.0196, "kpi_binary": 1},
        "no_model": {"n": 100, "kpi_mean": 0.0, "kpi_var": 0.0, "kpi_binary": 1},
    }
    r = roi(arms, cost=10.0, value_per_event=100.0)
    assert r.measurable and r.method == "mover-wilson"
    assert r.uplift_low is not None and r.uplift_high is not None
    assert r.uplift_low < 0.0 < r.uplift_high  # Welch would give the holdout variance 0: [0.014, 0.026]
    assert "to say anything" in (r.warning or "")
    assert r.describe().startswith("WARNING: ")


def test_skewed_revenue_uses_the_delta_lognormal_interval_and_a_large_holdout_no_warning():
    import numpy as np
    from driftline.cost.roi import roi
    from driftline.experiments.decision import kpi_summary as summary

    rng = np.random.default_rng(4)
    model, holdout = rng.lognormal(0.1, 2.0, 19_000), rng.lognormal(0.0, 2.0, 1000)
    r = roi({"champion": summary(model), "no_model": summary(holdout)}, cost=1.0, value_per_event=1.0)
    assert r.method == "mover-delta-lognormal" and r.warning is None
    assert r.uplift_low is not None and r.uplift_high is not None and r.uplift_low < r.uplift < r.uplift_high
