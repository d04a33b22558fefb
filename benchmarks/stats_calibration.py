"""Calibration table of the drift decisions: false-alarm rate and power by method, reference and current size.

For every method and every (reference rows, current rows) in {200, 1000, 5000, 20000} x {200, 1000,
5000}, `--reps` Monte Carlo replicates draw a fresh reference and a fresh current window:
- from the same distribution (every alarm is false): the false-alarm rate;
- with a stated shift: the power.
Each rate comes with its Monte Carlo standard error sqrt(p (1 - p) / reps).

Methods (the calibrated ones are Driftline's decision, `drift.decision: calibrated`, at alpha 0.05):
- `ks`: numerical N(0, 1); shift: location +0.2 SD.
- `wasserstein` (normed, permutation/resampled null, minimum effect 0): same data and shift as ks.
- `psi` (numerical, reference-quantile bins, resampled null, minimum effect 0): same.
- `chisquare_4`: two-sample chi-square, 4 categories with shares (.4, .3, .2, .1); shift: (.32, .3, .24, .14).
- `chisquare_20`: 20 categories with shares rising linearly 1:3; shift: 50% of rows drawn uniformly.
- `jensenshannon_20` (resampled null, minimum effect 0): same data and shift as chisquare_20.
- `dataset`: the dataset decision (6 columns: two correlated normals (rho 0.5), a lognormal, a Poisson(3)
  integer, the 4- and the 20-category columns; default methods, Holm across columns, drift_share 0.3);
  shift: the first normal +0.5 SD and the 4-category shift (2 of 6 columns, share 0.33).
- `evidently_num`, `evidently_cat20`, `dataset_evidently`: Evidently 0.7's own decisions on the same data
  (`drift.decision: evidently`), for comparison.

    .venv/bin/python benchmarks/stats_calibration.py            # 300 replicates per cell (tens of minutes)
    .venv/bin/python benchmarks/stats_calibration.py --quick    # 40 replicates, 2 sizes (seconds)

The last stdout line is one JSON object: the table's rows and the largest false-alarm rates.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

REF_SIZES = (200, 1000, 5000, 20000)
CUR_SIZES = (200, 1000, 5000)
ALPHA = 0.05
RESAMPLES = 200  # draws of a distance's null in the simulation (any count gives a valid p-value)
CALIBRATED = ("ks", "wasserstein", "psi", "chisquare_4", "chisquare_20", "jensenshannon_20", "dataset")
BASELINES = ("evidently_num", "evidently_cat20", "dataset_evidently")
SHIFTS = {
    "ks": "location +0.2 SD of N(0, 1)",
    "wasserstein": "location +0.2 SD of N(0, 1)",
    "psi": "location +0.2 SD of N(0, 1)",
    "chisquare_4": "shares (.4, .3, .2, .1) -> (.32, .3, .24, .14)",
    "chisquare_20": "20 categories (shares 1:3 linear); 50% of rows drawn uniformly",
    "jensenshannon_20": "20 categories (shares 1:3 linear); 50% of rows drawn uniformly",
    "dataset": "2 of 6 columns: a normal +0.5 SD and the 4-category shift",
    "evidently_num": "location +0.2 SD of N(0, 1)",
    "evidently_cat20": "20 categories (shares 1:3 linear); 50% of rows drawn uniformly",
    "dataset_evidently": "2 of 6 columns: a normal +0.5 SD and the 4-category shift",
}


def _cat4(rng: Any, n: int, shifted: bool) -> Any:
    import numpy as np

    p = [0.32, 0.3, 0.24, 0.14] if shifted else [0.4, 0.3, 0.2, 0.1]
    return np.array(["a", "b", "c", "d"])[rng.choice(4, n, p=p)]


def _cat20(rng: Any, n: int, shifted: bool) -> Any:
    import numpy as np

    p = np.linspace(1, 3, 20)
    p /= p.sum()
    if shifted:
        p = 0.5 * p + 0.5 / 20
    return np.array([f"k{i:02d}" for i in range(20)])[rng.choice(20, n, p=p)]


def _frame(rng: Any, n: int, shifted: bool) -> Any:
    import pandas as pd

    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": z1 + (0.5 if shifted else 0.0),
            "b": 0.5 * z1 + math.sqrt(0.75) * z2,
            "c": rng.lognormal(0, 1, n),
            "d": rng.poisson(3, n).astype("int64"),
            "e": _cat4(rng, n, shifted),
            "f": _cat20(rng, n, shifted),
        }
    ).astype({"e": "object", "f": "object"})


DATASET_TYPES: dict[str, Any] = {"a": "num", "b": "num", "c": "num", "d": "num", "e": "cat", "f": "cat"}


def one(method: str, n_ref: int, n_cur: int, shifted: bool, rng: Any, seed: int) -> bool:
    """One replicate: does `method` call drift?"""
    import pandas as pd
    from driftline.drift.column_tests import calibrated_column_drift
    from driftline.drift.data_drift import DriftSettings, compute_data_drift
    from driftline.drift.stats import ColumnType, column_drift

    if method in ("dataset", "dataset_evidently"):
        settings = DriftSettings(
            column_types=dict(DATASET_TYPES),
            drift_share=0.3,
            seed=seed,
            decision="calibrated" if method == "dataset" else "evidently",
            resamples=RESAMPLES,
        )
        result = compute_data_drift(
            _frame(rng, n_ref, False), _frame(rng, n_cur, shifted), settings, workers=1
        )
        return bool(result.dataset_drift)
    if method in ("ks", "wasserstein", "psi", "evidently_num"):
        ref = pd.Series(rng.normal(size=n_ref))
        cur = pd.Series(rng.normal(0.2 if shifted else 0.0, 1.0, n_cur))
        kind: ColumnType = "num"
    elif method == "chisquare_4":
        ref, cur, kind = pd.Series(_cat4(rng, n_ref, False)), pd.Series(_cat4(rng, n_cur, shifted)), "cat"
    else:
        ref, cur, kind = pd.Series(_cat20(rng, n_ref, False)), pd.Series(_cat20(rng, n_cur, shifted)), "cat"
    if method.startswith("evidently"):
        return bool(column_drift("x", ref, cur, kind).drifted)
    name = method.split("_")[0]
    threshold = 1e-12 if name in ("wasserstein", "psi", "jensenshannon") else None  # no minimum effect
    verdict = calibrated_column_drift(
        "x",
        ref,
        cur,
        kind,
        name,
        threshold,
        alpha=ALPHA,
        resamples=RESAMPLES,
        seed=seed,
    )
    return bool(verdict.drifted)


def cell(method: str, n_ref: int, n_cur: int, reps: int, seed: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng([seed, n_ref, n_cur, sum(map(ord, method))])
    started = time.perf_counter()
    alarms = sum(one(method, n_ref, n_cur, False, rng, seed * 100_000 + r) for r in range(reps))
    hits = sum(one(method, n_ref, n_cur, True, rng, seed * 100_000 + reps + r) for r in range(reps))
    fa, power = alarms / reps, hits / reps
    return {
        "method": method,
        "calibrated": method in CALIBRATED,
        "reference_rows": n_ref,
        "current_rows": n_cur,
        "false_alarm": round(fa, 4),
        "false_alarm_se": round(math.sqrt(fa * (1 - fa) / reps), 4),
        "power": round(power, 4),
        "power_se": round(math.sqrt(power * (1 - power) / reps), 4),
        "reps": reps,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="40 replicates, sizes 200 and 1000 only")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--methods", default=",".join(CALIBRATED + BASELINES))
    parser.add_argument("--refs", default=None, help="reference sizes, comma-separated (default: all)")
    parser.add_argument("--curs", default=None, help="current sizes, comma-separated (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    reps = args.reps or (40 if args.quick else 300)
    refs: tuple[int, ...] = (200, 1000) if args.quick else REF_SIZES
    curs: tuple[int, ...] = (200,) if args.quick else CUR_SIZES
    if args.refs:
        refs = tuple(int(v) for v in args.refs.split(","))
    if args.curs:
        curs = tuple(int(v) for v in args.curs.split(","))
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    print("| method | reference | current | false alarm (se) | power (se) | shift |")
    print("|---|---:|---:|---:|---:|---|")
    for method in methods:
        for n_ref in refs:
            for n_cur in curs:
                row = cell(method, n_ref, n_cur, reps, args.seed)
                rows.append(row)
                print(
                    f"| {method} | {n_ref} | {n_cur} | {row['false_alarm']:.3f} ({row['false_alarm_se']:.3f}) "
                    f"| {row['power']:.3f} ({row['power_se']:.3f}) | {SHIFTS[method]} |",
                    flush=True,
                )
    calibrated = [r for r in rows if r["calibrated"]]
    summary = {
        "benchmark": "stats_calibration",
        "alpha": ALPHA,
        "reps": reps,
        "resamples": RESAMPLES,
        "max_false_alarm_calibrated": max((r["false_alarm"] for r in calibrated), default=None),
        "max_false_alarm_dataset": max(
            (r["false_alarm"] for r in rows if r["method"] == "dataset"), default=None
        ),
        "max_false_alarm_evidently": max(
            (r["false_alarm"] for r in rows if not r["calibrated"]), default=None
        ),
        "shifts": {m: SHIFTS[m] for m in methods},
        "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
