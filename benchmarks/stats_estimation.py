"""Error rates of the label-free performance estimate (CBPE for binary, DLE for regression).

Run: .venv/bin/python benchmarks/stats_estimation.py [--quick] [--reps N] [--seed N]

Binary. Features x1 ~ N(shift, 1), x2 ~ N(0, 1), x3 ~ Bernoulli(0.4); P(y = 1 | x) is logistic in
(x1, x2, x3, x1^2). The champion learned P(y | x) on 20,000 rows (a logistic regression on those four
terms) but reports it distorted: sigmoid(0.5 * logit + 0.4), i.e. ranked right, calibrated wrong, and
predicts the positive class at that distorted probability > 0.5. Each replicate draws a labelled
reference (the champion's held-out rows) and a current window, estimates the metric from the
current window's features only (driftline.drift.estimation.cbpe: Platt or isotonic by
cross-validated log loss), and compares with the metric the current labels realise.
- same: the current window has the reference's distribution;
- covariate: x1 moves by -1.5 SD (P(y | x) unchanged) to where its effect flattens: the metric drops,
  the estimate should follow and the drop rule should fire;
- concept: x2's coefficient flips sign (P(y | x) changed, features unchanged): no label-free
  estimate can see it; this one is shown to miss it.
Per cell: the mean realised and estimated metric, the bias (estimate - realised) with its Monte
Carlo error, the mean estimated standard error against the sd of the errors, the coverage of the 95%
band with its Monte Carlo error sqrt(p (1 - p) / reps), and how often the estimated-drop rule
(max_drop 0.02, alpha 0.05; driftline.drift.estimation.estimated_drop) fires.

Regression (DLE). y = 0.5 x1 + noise whose SD grows with |x1|; the champion is the least-squares
line. same and covariate (x1 + 1 SD) for mae and rmse.

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

import numpy as np
from driftline.drift.estimation import cbpe, estimated_drop, metric_rows
from driftline.training.bootstrap import Predictions, metric_se

COEF = np.array([-1.0, 1.2, -0.8, 0.7, 0.4])  # intercept, x1, x2, x3, x1^2


def design(x: np.ndarray) -> np.ndarray:
    return np.column_stack([x, x[:, 0] ** 2])


def draw(rng: np.random.Generator, n: int, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    shift = -1.5 if scenario == "covariate" else 0.0
    x = np.column_stack([rng.normal(shift, 1, n), rng.normal(0, 1, n), rng.random(n) < 0.4]).astype(float)
    coef = COEF.copy()
    if scenario == "concept":
        coef[2] = -coef[2]
    logit = coef[0] + design(x) @ coef[1:]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


class Champion:
    """A correctly specified logistic model that reports distorted (monotone) probabilities."""

    def __init__(self, rng: np.random.Generator) -> None:
        from sklearn.linear_model import LogisticRegression

        x, y = draw(rng, 20_000, "same")
        self.model = LogisticRegression(C=1e6, max_iter=1000).fit(design(x), y)

    def proba(self, x: np.ndarray) -> np.ndarray:
        logit = self.model.decision_function(design(x))
        out: np.ndarray = 1 / (1 + np.exp(-(0.5 * logit + 0.4)))
        return out


def mean_mc(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(len(arr)))


def rate_mc(hits: int, reps: int) -> tuple[float, float]:
    p = hits / reps
    return p, math.sqrt(max(p * (1 - p), 1e-12) / reps)


def binary_cell(
    rng: np.random.Generator,
    champion: Champion,
    scenario: str,
    metric: str,
    n_ref: int,
    n_cur: int,
    reps: int,
) -> dict[str, Any]:
    realised, estimated, ses, errors, covered, dropped, references = [], [], [], [], 0, 0, []
    for _ in range(reps):
        x_ref, y_ref = draw(rng, n_ref, "same")
        x_cur, y_cur = draw(rng, n_cur, scenario)
        s_ref, s_cur = champion.proba(x_ref), champion.proba(x_cur)
        pred_ref, pred_cur = s_ref > 0.5, s_cur > 0.5
        est = cbpe(metric, s_ref, y_ref, s_cur, pred_cur, seed=int(rng.integers(1 << 31)))
        truth = float(metric_rows(metric, y_cur, pred_cur, s_cur)[0])
        reference = float(metric_rows(metric, y_ref, pred_ref, s_ref)[0])
        ref_se = (
            metric_se(metric, Predictions("binary_classification", y_ref > 0.5, pred_ref, s_ref), 200) or 0.0
        )
        _, _, drop = estimated_drop(metric, reference, ref_se, est.value, est.se, 0.02, 0.05)
        z = 1.959963984540054
        realised.append(truth)
        estimated.append(est.value)
        references.append(reference)
        ses.append(est.se)
        errors.append(est.value - truth)
        covered += int(est.value - z * est.se <= truth <= est.value + z * est.se)
        dropped += int(drop)
    bias, bias_mc = mean_mc(errors)
    cov, cov_mc = rate_mc(covered, reps)
    fired, fired_mc = rate_mc(dropped, reps)
    return {
        "task": "binary",
        "scenario": scenario,
        "metric": metric,
        "reference_rows": n_ref,
        "current_rows": n_cur,
        "reps": reps,
        "reference_mean": round(float(np.mean(references)), 4),
        "realised_mean": round(float(np.mean(realised)), 4),
        "estimated_mean": round(float(np.mean(estimated)), 4),
        "bias": round(bias, 4),
        "bias_mc": round(bias_mc, 4),
        "mean_se": round(float(np.mean(ses)), 4),
        "error_sd": round(float(np.std(errors, ddof=1)), 4),
        "coverage_95": round(cov, 3),
        "coverage_mc": round(cov_mc, 3),
        "drop_rule_fired": round(fired, 3),
        "drop_rule_fired_mc": round(fired_mc, 3),
    }


def regression_cell(
    rng: np.random.Generator, scenario: str, metric: str, n_ref: int, n_cur: int, reps: int
) -> dict[str, Any]:
    import pandas as pd
    from driftline.config.models import Feature
    from driftline.drift.dle import dle, realised_regression

    def data(n: int, shift: float) -> tuple[pd.DataFrame, np.ndarray]:
        x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        y = 0.5 * x1 + rng.normal(0, 0.5 + np.abs(x1), n)
        return pd.DataFrame({"x1": x1, "x2": x2}), y

    features = [Feature(name="x1", type="float"), Feature(name="x2", type="float")]
    X_train, y_train = data(5000, 0.0)
    beta = np.polyfit(X_train["x1"], y_train, 1)
    shift = 1.0 if scenario == "covariate" else 0.0
    realised, estimated, errors, covered, ses = [], [], [], 0, []
    for _ in range(reps):
        X_ref, y_ref = data(n_ref, 0.0)
        X_cur, y_cur = data(n_cur, shift)
        p_ref, p_cur = np.polyval(beta, X_ref["x1"]), np.polyval(beta, X_cur["x1"])
        est = dle(metric, features, X_ref, y_ref, p_ref, X_cur, p_cur, seed=int(rng.integers(1 << 31)))
        truth = realised_regression(metric, y_cur, p_cur)
        realised.append(truth)
        estimated.append(est.value)
        errors.append(est.value - truth)
        ses.append(est.se)
        covered += int(abs(est.value - truth) <= 1.959963984540054 * est.se)
    bias, bias_mc = mean_mc(errors)
    cov, cov_mc = rate_mc(covered, reps)
    return {
        "task": "regression",
        "scenario": scenario,
        "metric": metric,
        "reference_rows": n_ref,
        "current_rows": n_cur,
        "reps": reps,
        "realised_mean": round(float(np.mean(realised)), 4),
        "estimated_mean": round(float(np.mean(estimated)), 4),
        "bias": round(bias, 4),
        "bias_mc": round(bias_mc, 4),
        "mean_se": round(float(np.mean(ses)), 4),
        "error_sd": round(float(np.std(errors, ddof=1)), 4),
        "coverage_95": round(cov, 3),
        "coverage_mc": round(cov_mc, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, two sizes (about a minute)")
    parser.add_argument("--reps", type=int, default=None, help="binary replicates per cell")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--tasks", default="binary,regression", help="binary, regression or both")
    args = parser.parse_args()
    reps = args.reps or (20 if args.quick else 200)
    reg_reps = max(3, reps // 4) if args.quick else max(20, reps // 4)
    sizes = [(500, 200), (2000, 1000)] if args.quick else [(200, 200), (500, 200), (2000, 200), (2000, 1000)]
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    champion = Champion(rng)
    cells = []
    tasks = set(args.tasks.split(","))
    for scenario in ("same", "covariate", "concept") if "binary" in tasks else ():
        for metric in ("roc_auc", "accuracy"):
            for n_ref, n_cur in sizes if scenario == "same" else sizes[-2:]:
                cell = binary_cell(rng, champion, scenario, metric, n_ref, n_cur, reps)
                cells.append(cell)
                print(
                    f"{cell['task']:10} {scenario:9} {metric:8} ref {n_ref:5} cur {n_cur:5}: realised "
                    f"{cell['realised_mean']:.4f} estimated {cell['estimated_mean']:.4f} bias {cell['bias']:+.4f} "
                    f"(mc {cell['bias_mc']:.4f}) se {cell['mean_se']:.4f} vs error sd {cell['error_sd']:.4f}, "
                    f"coverage {cell['coverage_95']:.3f} (mc {cell['coverage_mc']:.3f}), drop rule "
                    f"{cell['drop_rule_fired']:.3f}",
                    flush=True,
                )
    for scenario in ("same", "covariate") if "regression" in tasks else ():
        for metric in ("mae", "rmse"):
            cell = regression_cell(rng, scenario, metric, 2000, 1000, reg_reps)
            cells.append(cell)
            print(
                f"regression {scenario:9} {metric:8} ref  2000 cur  1000: realised {cell['realised_mean']:.4f} "
                f"estimated {cell['estimated_mean']:.4f} bias {cell['bias']:+.4f} (mc {cell['bias_mc']:.4f}) "
                f"se {cell['mean_se']:.4f} vs error sd {cell['error_sd']:.4f}, coverage {cell['coverage_95']:.3f} "
                f"(mc {cell['coverage_mc']:.3f})",
                flush=True,
            )
    binary_same = [c for c in cells if c["task"] == "binary" and c["scenario"] == "same"]
    binary_cov = [c for c in cells if c["task"] == "binary" and c["scenario"] == "covariate"]
    concept = [c for c in cells if c["scenario"] == "concept"]
    regression = [c for c in cells if c["task"] == "regression"]
    summary: dict[str, Any] = {
        "benchmark": "stats_estimation",
        "quick": args.quick,
        "tasks": sorted(tasks),
        "reps": reps,
        "regression_reps": reg_reps,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if binary_same:
        summary.update(
            min_coverage_same=min(c["coverage_95"] for c in binary_same),
            max_abs_bias_over_se_same=round(max(abs(c["bias"]) / c["mean_se"] for c in binary_same), 3),
            min_coverage_covariate=min(c["coverage_95"] for c in binary_cov),
            max_drop_rule_same=max(c["drop_rule_fired"] for c in binary_same),
            min_drop_rule_covariate=min(c["drop_rule_fired"] for c in binary_cov),
            concept_mean_bias=round(float(np.mean([c["bias"] for c in concept])), 4),
        )
    if regression:
        summary["min_coverage_regression"] = min(c["coverage_95"] for c in regression)
    summary["cells"] = cells
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
