"""Error rates of the A/B experiment statistics: SRM of what came back, and ROI interval coverage.

Run: .venv/bin/python benchmarks/stats_experiments.py [--quick] [--seed N]

1. SRM. Every simulated experiment serves `daily` entities a day for 28 days (challenger share 10% or
   50%); 80% of the served entities' outcomes come back. Under "broken", one arm (the challenger)
   loses 10% of its outcomes (and, harder, 2%: a tenth of the outcomes of a 20% minority). The evaluation looks after every day and halts when a check's p-value
   is below 0.001. Compared: the served-vs-shares check alone (what the pipeline had: it tests the hash
   against itself) and the outcomes-vs-served check (driftline.experiments.decision.outcome_srm_p_value).
2. ROI interval coverage (driftline.cost.roi): 95% intervals of the uplift (model arms minus the 5%
   `no_model` holdout), Welch's against the skew-aware MOVER interval, on lognormal revenue (sigma 1.5
   and 2), zero-inflated lognormal revenue, and rare 0/1 KPIs with holdouts of 1000 and 100.
3. CUPED. The true effect is 0.05. The treatment also moves the covariate measured inside the
   window (by 0.04). Compared: the covariate averaged over in-window outcome rows (the old join) and
   the pre-exposure covariate (driftline.experiments.evaluation.pre_exposure_covariate). The mean
   estimate is shown with its Monte Carlo error.
4. Sequential designs: rejection rate (type-I at effect 0, power otherwise) of the mSPRT (mixing SD 0.1
   and 0.03 KPI SDs) and of the group-sequential design (O'Brien-Fleming-type, 28 planned looks),
   28 daily looks of 450 outcomes per arm, two-sided alpha 0.05.
Each rate comes with its Monte Carlo standard error sqrt(p (1-p) / reps). The last stdout line is one
JSON object.
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
from driftline.cost.roi import ArmSummary, skew_aware_interval, uplift_interval
from driftline.experiments.decision import cuped_adjust, kpi_summary, outcome_srm_p_value, srm_p_value

SRM_ALPHA = 0.001
LOOKS = 28


def mc(p: float, reps: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / reps)


def srm_case(rng: np.random.Generator, reps: int, daily: int, share: float, lost: float) -> dict[str, Any]:
    """Halt rates over `reps` experiments of LOOKS daily looks; `lost`: share of challenger outcomes lost."""
    halts_served = halts_outcomes = 0
    shares = {"champion": 1 - share, "challenger": share}
    for _ in range(reps):
        served_ch = rng.binomial(daily, share, LOOKS).cumsum()
        served_cp = daily * np.arange(1, LOOKS + 1) - served_ch
        # outcomes arrive for 80% of the served; the challenger loses `lost` of them
        back_ch = rng.binomial(served_ch, 0.8 * (1 - lost))
        back_cp = rng.binomial(served_cp, 0.8)
        h_served = h_out = False
        for k in range(LOOKS):
            served = {"champion": int(served_cp[k]), "challenger": int(served_ch[k])}
            returned = {"champion": int(back_cp[k]), "challenger": int(back_ch[k])}
            h_served |= srm_p_value(served, shares) < SRM_ALPHA
            h_out |= h_served or outcome_srm_p_value(returned, served) < SRM_ALPHA
        halts_served += h_served
        halts_outcomes += h_out
    a, b = halts_served / reps, halts_outcomes / reps
    return {
        "daily": daily,
        "challenger_share": share,
        "lost": lost,
        "reps": reps,
        "halt_served_vs_shares": a,
        "halt_served_vs_shares_mc": mc(a, reps),
        "halt_with_outcomes_check": b,
        "halt_with_outcomes_check_mc": mc(b, reps),
    }


def _summaries(values: np.ndarray) -> ArmSummary:
    return ArmSummary.from_dict(kpi_summary(values))


def roi_case(rng: np.random.Generator, reps: int, kind: str, holdout: int, param: float) -> dict[str, Any]:
    """Coverage of the true uplift by Welch and by the skew-aware interval."""
    model_n = holdout * 19  # a 5% holdout
    lift = 1.1 if kind != "binary" else 1.2
    if kind == "lognormal":
        truth = math.exp(param**2 / 2) * (lift - 1)

        def draw(n: int, factor: float) -> np.ndarray:
            return rng.lognormal(math.log(factor), param, n)
    elif kind == "zi-lognormal":  # 70% zeros, lognormal positives
        truth = 0.3 * math.exp(param**2 / 2) * (lift - 1)

        def draw(n: int, factor: float) -> np.ndarray:
            return np.where(rng.random(n) < 0.3, rng.lognormal(math.log(factor), param, n), 0.0)
    else:
        truth = param * (lift - 1)

        def draw(n: int, factor: float) -> np.ndarray:
            return (rng.random(n) < param * factor).astype(float)

    hits = {"welch": 0, "driftline": 0}
    above = 0
    methods: set[str] = set()
    for _ in range(reps):
        model, hold = _summaries(draw(model_n, lift)), _summaries(draw(holdout, 1.0))
        _, low, high = uplift_interval(model, hold)
        hits["welch"] += low <= truth <= high
        above += low > truth
        _, low, high, method = skew_aware_interval(model, hold)
        methods.add(method)
        hits["driftline"] += low <= truth <= high
    out: dict[str, Any] = {"case": kind, "param": param, "holdout": holdout, "reps": reps}
    for name, h in hits.items():
        out[f"coverage_{name}"] = h / reps
        out[f"coverage_{name}_mc"] = mc(h / reps, reps)
    out["welch_above_truth"] = above / reps
    out["method"] = "/".join(sorted(methods))
    return out


def cuped_case(rng: np.random.Generator, reps: int, n: int = 2000, effect: float = 0.05) -> dict[str, Any]:
    """Mean CUPED estimate of `effect` with the in-window covariate and with the pre-exposure one."""
    estimates: dict[str, list[float]] = {"raw": [], "in_window": [], "pre_exposure": []}
    reduction = []
    for _ in range(reps):
        base = {arm: rng.normal(10, 1, n) for arm in ("champion", "challenger")}
        treat = {"champion": 0.0, "challenger": 1.0}
        kpi = {a: base[a] + effect * treat[a] + rng.normal(0, 0.5, n) for a in base}
        inside = {a: base[a] + 0.04 * treat[a] + rng.normal(0, 0.1, n) for a in base}
        pre = {a: base[a] + rng.normal(0, 0.1, n) for a in base}
        estimates["raw"].append(float(kpi["challenger"].mean() - kpi["champion"].mean()))
        for name, cov in (("in_window", inside), ("pre_exposure", pre)):
            adjusted, info = cuped_adjust(kpi, cov)
            estimates[name].append(float(adjusted["challenger"].mean() - adjusted["champion"].mean()))
            if name == "pre_exposure":
                reduction.append(info["variance_reduction"])
    out: dict[str, Any] = {"effect": effect, "n_per_arm": n, "reps": reps}
    for name, values in estimates.items():
        arr = np.asarray(values)
        out[f"{name}_mean"] = float(arr.mean())
        out[f"{name}_mc"] = float(arr.std(ddof=1) / math.sqrt(reps))
        out[f"{name}_sd"] = float(arr.std(ddof=1))
    out["variance_reduction"] = float(np.mean(reduction))
    return out


def sequential_case(rng: np.random.Generator, reps: int, effect: float, daily: int = 450) -> dict[str, Any]:
    """Rejection rates of the mSPRT and the group-sequential design over LOOKS looks (KPI SD 1)."""
    from driftline.experiments.group_sequential import equally_spaced, obf_bounds

    bounds = np.array(obf_bounds(equally_spaced(LOOKS), 0.025))
    n = daily * np.arange(1, LOOKS + 1)
    # cumulative difference of means: sums of independent daily differences
    daily_diff = rng.normal(effect * daily, math.sqrt(2 * daily), (reps, LOOKS)).cumsum(axis=1) / n
    var = 2.0 / n
    z = daily_diff / np.sqrt(var)
    out: dict[str, Any] = {"effect_sd": effect, "reps": reps, "looks": LOOKS, "daily_per_arm": daily}
    for name, tau2 in (("msprt_tau_0.1", 0.01), ("msprt_tau_0.03", 0.0009)):
        log_lr = 0.5 * np.log(var / (var + tau2)) + tau2 * daily_diff**2 / (2 * var * (var + tau2))
        rate = float((log_lr >= math.log(1 / 0.05)).any(axis=1).mean())
        out[name], out[f"{name}_mc"] = rate, mc(rate, reps)
    rate = float((np.abs(z) >= bounds).any(axis=1).mean())
    out["group_sequential"], out["group_sequential_mc"] = rate, mc(rate, reps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (seconds)")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    srm_reps = 100 if args.quick else 1000
    roi_reps = 100 if args.quick else 1000
    srm = [
        srm_case(rng, srm_reps, daily, share, lost)
        for daily, share in ((900, 0.1), (900, 0.5), (300, 0.5))
        for lost in (0.0, 0.02, 0.1)
    ]
    print("SRM over 28 daily looks (halt when p < 0.001); 'lost' = share of challenger outcomes lost")
    print(f"{'daily':>6} {'share':>6} {'lost':>5} {'served-vs-shares':>18} {'+ outcomes-vs-served':>22}")
    for r in srm:
        print(
            f"{r['daily']:>6} {r['challenger_share']:>6.2f} {r['lost']:>5.2f} "
            f"{r['halt_served_vs_shares']:>10.3f} ± {r['halt_served_vs_shares_mc']:.3f} "
            f"{r['halt_with_outcomes_check']:>14.3f} ± {r['halt_with_outcomes_check_mc']:.3f}"
        )
    cases = [
        ("lognormal", 1000, 1.5),
        ("lognormal", 1000, 2.0),
        ("lognormal", 100, 1.5),
        ("lognormal", 100, 2.0),
        ("zi-lognormal", 1000, 1.5),
        ("zi-lognormal", 1000, 2.0),
        ("binary", 1000, 0.02),
        ("binary", 100, 0.02),
        ("binary", 100, 0.05),
        ("binary", 100, 0.01),
    ]
    roi = [roi_case(rng, roi_reps, kind, holdout, param) for kind, holdout, param in cases]
    print()
    print("ROI uplift interval coverage (nominal 95%), 5% holdout")
    print(
        f"{'case':>13} {'param':>6} {'holdout':>8} {'welch':>14} {'driftline':>14} {'welch>truth':>12}  method"
    )
    for r in roi:
        print(
            f"{r['case']:>13} {r['param']:>6} {r['holdout']:>8} "
            f"{r['coverage_welch']:>7.3f} ± {r['coverage_welch_mc']:.3f} "
            f"{r['coverage_driftline']:>7.3f} ± {r['coverage_driftline_mc']:.3f} {r['welch_above_truth']:>12.3f}  {r['method']}"
        )
    cuped = cuped_case(rng, 100 if args.quick else 1000)
    print()
    print("CUPED, true effect 0.05; the treatment moves the in-window covariate by 0.04")
    for name in ("raw", "in_window", "pre_exposure"):
        print(
            f"{name:>13}: mean estimate {cuped[f'{name}_mean']:.4f} ± {cuped[f'{name}_mc']:.4f} "
            f"(SD of the estimate {cuped[f'{name}_sd']:.4f})"
        )
    sequential = [sequential_case(rng, 400 if args.quick else 4000, e) for e in (0.0, 0.02, 0.03)]
    print()
    print("Sequential designs, 28 daily looks of 450 per arm: rejection rate (type-I at 0, else power)")
    print(f"{'effect SD':>9} {'mSPRT tau .1':>16} {'mSPRT tau .03':>16} {'group-seq OBF':>16}")
    for r in sequential:
        print(
            f"{r['effect_sd']:>9} "
            + " ".join(
                f"{r[k]:>8.3f} ± {r[k + '_mc']:.3f}"
                for k in ("msprt_tau_0.1", "msprt_tau_0.03", "group_sequential")
            )
        )
    broken = [r for r in srm if r["lost"] >= 0.1]
    null = [r for r in srm if r["lost"] == 0]
    summary = {
        "benchmark": "stats_experiments",
        "quick": args.quick,
        "seed": args.seed,
        "srm_looks": LOOKS,
        "srm_alpha": SRM_ALPHA,
        "srm_halt_when_broken_min": min(r["halt_with_outcomes_check"] for r in broken),
        "srm_halt_when_broken_old_check_max": max(r["halt_served_vs_shares"] for r in broken),
        "srm_false_halt_max": max(r["halt_with_outcomes_check"] for r in null),
        "roi_coverage_min": min(r["coverage_driftline"] for r in roi),
        "roi_coverage_welch_min": min(r["coverage_welch"] for r in roi),
        "mc_error_max": max(
            [r["halt_with_outcomes_check_mc"] for r in srm] + [r["coverage_driftline_mc"] for r in roi]
        ),
        "cuped_true_effect": cuped["effect"],
        "cuped_pre_exposure_mean": cuped["pre_exposure_mean"],
        "cuped_pre_exposure_mc": cuped["pre_exposure_mc"],
        "cuped_in_window_mean": cuped["in_window_mean"],
        "cuped_variance_reduction": cuped["variance_reduction"],
        "sequential": sequential,
        "srm": srm,
        "roi": roi,
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
