"""Group-sequential boundaries: Lan-DeMets alpha spending with the O'Brien-Fleming-type function.

A planned number of looks K at information fractions t_1 < ... < t_K = 1 (e.g. the 28 daily looks of
`max_days`). The spending function alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) (Lan & DeMets 1983,
Biometrika 70:659) says how much of the one-sided type-I error alpha may have been spent by
fraction t. The boundary c_k of look k solves

    P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}, Z_k >= c_k) = alpha(t_k) - alpha(t_{k-1})

for the standardised statistics Z_k of a Brownian motion observed at the t_k
(corr(Z_i, Z_j) = sqrt(t_i / t_j)). The probabilities are computed with the numerical-integration
recursion of Armitage, McPherson & Rowe (1969), as in Jennison & Turnbull, "Group Sequential
Methods" (2000), ch. 19: the sub-density of the process on a grid, carried from look to look with
a normal transition kernel. Why not spotify-confidence (`sequential_bound_solver`): its pandas pin
fits our lock, but it requires chartify (selenium, bokeh, ipykernel, jupyter-bokeh) and ipywidgets,
a notebook stack in every Airflow image.

Checked against published bounds (gsDesign `sfLDOF`, K equally spaced looks, one-sided 0.025):
K=5: 4.877, 3.357, 2.680, 2.290, 2.031 (tests/unit/experiments/test_group_sequential.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from driftline.experiments.errors import ExperimentInputError

_N = NormalDist()


def obf_spending(t: float, alpha: float) -> float:
    """The O'Brien-Fleming-type spending function alpha(t) of Lan & DeMets (one-sided alpha)."""
    if t <= 0:
        return 0.0
    return min(alpha, 2.0 - 2.0 * _N.cdf(_N.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(min(t, 1.0))))


def obf_bounds(fractions: Sequence[float], alpha: float = 0.025, grid: int = 801) -> list[float]:
    """Upper boundaries (z scale) at the information `fractions` (increasing, in (0, 1]) for one-sided
    type-I error `alpha`, spent with the O'Brien-Fleming-type function."""
    import numpy as np
    from scipy import optimize, stats

    ts = [float(t) for t in fractions]
    if not ts or any(t <= 0 or t > 1 for t in ts) or any(b <= a for a, b in itertools.pairwise(ts)):
        raise ExperimentInputError(
            f"information fractions must increase within (0, 1], got {list(fractions)}"
        )
    if not 0 < alpha < 0.5:
        raise ExperimentInputError(f"alpha must be between 0 and 0.5, got {alpha!r}")
    bounds: list[float] = []
    spent = 0.0
    # sub-density of the score S = Z sqrt(t) on a grid, restricted to "not stopped so far"
    points: Any = None
    density: Any = None
    prev_t = 0.0
    for t in ts:
        target = obf_spending(t, alpha) - spent
        sd = math.sqrt(t - prev_t)

        def cross(
            c: float, t: float = t, sd: float = sd, points: Any = points, density: Any = density
        ) -> float:
            """P(not stopped at an earlier look, Z_k >= c)."""
            if points is None:
                return float(stats.norm.sf(c))
            tail = stats.norm.sf((c * math.sqrt(t) - points) / sd)
            return float(np.sum(density * tail * _weights(points)))

        if target <= 0:
            c = 40.0
        else:
            c = float(optimize.brentq(lambda x, goal=target: cross(x) - goal, -10.0, 40.0, xtol=1e-10))
        bounds.append(c)
        spent += cross(c)
        # carry the sub-density to this look and cut it at the boundary
        new_points = np.linspace(-10.0 * math.sqrt(t), c * math.sqrt(t), grid)
        if points is None:
            density = stats.norm.pdf(new_points / math.sqrt(t)) / math.sqrt(t)
        else:
            kernel = stats.norm.pdf((new_points[:, None] - points[None, :]) / sd) / sd
            density = kernel @ (density * _weights(points))
        points, prev_t = new_points, t
    return bounds


def _weights(points: Any) -> Any:
    """Simpson's rule weights on an evenly spaced grid with an odd number of points."""
    import numpy as np

    p = np.asarray(points)
    h = float(p[1] - p[0])
    w = np.ones(len(p))
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3.0


def equally_spaced(looks: int) -> list[float]:
    """The information fractions of `looks` equally spaced looks."""
    if looks < 1:
        raise ExperimentInputError(f"a group-sequential design needs at least 1 look, got {looks}")
    return [(k + 1) / looks for k in range(looks)]
