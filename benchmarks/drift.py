"""Drift check speed: Driftline's full-data check vs Evidently's DataDriftPreset on the full data.

Both sides get the same synthetic data (numerical columns; the first ones shifted enough to
drift, a few shifted slightly below the threshold, the rest unchanged) and run in their own
child process, so each side's peak RSS is its own. Driftline's time covers the whole check as
the operator runs it when the report is built (`drift.report.when: always`, or on_drift on a
drifting window, as here): full-data statistics, the Evidently report on a bounded sample
(`drift.report.sample_size` 5k rows per side, `drift.report.max_columns` 20 columns, drifted
first) and writing the HTML and JSON artifacts. `report_s` / `report_bytes` are the report's own
cost and size (`report_full_bytes`: the same report on every column and a 50k sample, the old
bound); `decision_s` is the check without the report (what `on_drift` costs on a quiet day).
The baseline's time covers `Report([DataDriftPreset()]).run(...)` only (no HTML).

    .venv/bin/python benchmarks/drift.py            # 1M + 1M rows x 50 columns (minutes)
    .venv/bin/python benchmarks/drift.py --quick    # 20k + 20k rows x 10 columns

The last stdout line is one JSON object (keys in shared/CONVENTIONS.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings

BASELINE = "evidently 0.7.23 DataDriftPreset full data"
SHIFT_DRIFT = 0.3  # normed Wasserstein about 0.24: drifts (threshold 0.1)
SHIFT_SUBTLE = 0.03  # about 0.024: does not drift
REPORT_ROWS, REPORT_COLUMNS = 5_000, 20  # the defaults of drift.report.sample_size / max_columns


def plan(columns: int) -> tuple[list[str], list[str], list[str]]:
    """(all columns, drifted columns, subtly shifted columns)."""
    names = [f"f{i:02d}" for i in range(columns)]
    n_drift = max(1, columns // 5)
    n_subtle = max(1, columns // 10)
    return names, names[:n_drift], names[n_drift : n_drift + n_subtle]


def make_frames(rows: int, columns: int, seed: int = 7):
    import numpy as np
    import pandas as pd

    names, drifted, subtle = plan(columns)
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i, name in enumerate(names):
        scale = 1.0 + (i % 5)
        ref[name] = rng.normal(0.0, scale, rows)
        shift = SHIFT_DRIFT if name in drifted else SHIFT_SUBTLE if name in subtle else 0.0
        cur[name] = rng.normal(shift * scale, scale, rows)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_side(side: str, rows: int, columns: int) -> dict:
    """Run one side in this process and return its figures."""
    warnings.filterwarnings("ignore")
    import evidently  # noqa: F401  - import cost is not part of either timing
    from driftline.drift.data_drift import DriftSettings, compute_data_drift
    from driftline.drift.report import column_verdicts, run_preset, sampled_report, write_artifacts

    reference, current = make_frames(rows, columns)
    types = dict.fromkeys(reference.columns, "num")
    data_rss = _rss_mb()
    cpu_start = _cpu_s()
    start = time.perf_counter()
    if side == "driftline":
        # decision "evidently": this benchmark times the Evidently-equivalent path against Evidently itself
        settings = DriftSettings(
            column_types=types, drift_share=0.5, sample_size=50_000, decision="evidently"
        )
        result = compute_data_drift(reference, current, settings)
        decision_s = time.perf_counter() - start
        snap, summary = sampled_report(
            reference, current, result, settings, sample_size=REPORT_ROWS, max_columns=REPORT_COLUMNS
        )
        with tempfile.TemporaryDirectory() as folder:
            paths = write_artifacts(
                folder, snap, {"data_drift": result.to_dict(), "evidently_sample_report": summary}
            )
        report_s = time.perf_counter() - start - decision_s
        drifted = result.drifted_columns
        extra = {
            "report_disagreements": summary["disagreements_with_full_data"],
            "decision_s": decision_s,
            "report_s": report_s,
            "report_bytes": paths["report_bytes"],
        }
    else:
        snap = run_preset(reference, current, types, drift_share=0.5)
        drifted = sorted(c for c, v in column_verdicts(snap).items() if v.get("drifted"))
        extra = {}
    seconds = time.perf_counter() - start
    cpu = _cpu_s() - cpu_start
    if side == "driftline":  # the old bound, for comparison (outside the timed check)
        full, _ = sampled_report(reference, current, result, settings)
        with tempfile.TemporaryDirectory() as folder:
            extra["report_full_bytes"] = write_artifacts(folder, full, {})["report_bytes"]
    return {
        "side": side,
        "seconds": seconds,
        "cpu_s": cpu,
        "drifted": drifted,
        "peak_rss_mb": _rss_mb(),
        "data_rss_mb": data_rss,
        **extra,
    }


def _child(side: str, rows: int, columns: int) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "--rows", str(rows), "--columns", str(columns)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} side failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k rows x 10 columns")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--columns", type=int, default=None)
    parser.add_argument("--side", choices=["driftline", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    columns = args.columns or (10 if args.quick else 50)
    if args.side:
        print(json.dumps(run_side(args.side, rows, columns)))
        return
    _, expected, _ = plan(columns)
    ours = _child("driftline", rows, columns)
    print(f"driftline: {ours['seconds']:.2f} s, peak {ours['peak_rss_mb']:.0f} MB", file=sys.stderr)
    base = _child("baseline", rows, columns)
    print(f"baseline:  {base['seconds']:.2f} s, peak {base['peak_rss_mb']:.0f} MB", file=sys.stderr)
    result = {
        "benchmark": "drift",
        "rows": rows,
        "columns": columns,
        "driftline_s": round(ours["seconds"], 3),
        "baseline": BASELINE,
        "baseline_s": round(base["seconds"], 3),
        "ratio": round(base["seconds"] / ours["seconds"], 2),
        "driftline_cpu_s": round(ours["cpu_s"], 3),
        "baseline_cpu_s": round(base["cpu_s"], 3),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "baseline_peak_rss_mb": round(base["peak_rss_mb"], 1),
        "data_rss_mb": round(ours["data_rss_mb"], 1),
        "drifted_expected": expected,
        "drifted_driftline": ours["drifted"],
        "drifted_baseline": base["drifted"],
        "same_decisions": ours["drifted"] == base["drifted"],
        "sample_report_disagreements": ours["report_disagreements"],
        "decision_s": round(ours["decision_s"], 3),
        "report_s": round(ours["report_s"], 3),
        "report_bytes": ours["report_bytes"],
        "report_full_bytes": ours["report_full_bytes"],
        "report_bound": f"{REPORT_ROWS} rows per side, {REPORT_COLUMNS} columns",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
