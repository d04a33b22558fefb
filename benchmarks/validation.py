"""Benchmark: the Driftline validation gate vs bare Great Expectations on the same frame.

    .venv/bin/python benchmarks/validation.py            # 1M rows x 20 columns, 40 expectations
    .venv/bin/python benchmarks/validation.py --quick    # 20k rows, a few seconds

Both sides run the same 40 expectations (39 from the config plus min_rows) on the same
DataFrame in the same process; the gate also runs its schema checks and builds its report.
Each side runs `--repeat` times (default 3), alternating which goes first, and the best time
counts. The last stdout line
is one JSON object: benchmark, rows, columns, expectations, driftline_s, baseline_s,
baseline, ratio (baseline_s / driftline_s), peak_rss_mb, outcomes (each side's success).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

INTS = [f"i{n}" for n in range(10)]
FLOATS = [f"f{n}" for n in range(4)]
CATS = ["plan", "region", "channel"]
CAT_VALUES = {
    "plan": ["basic", "standard", "premium"],
    "region": ["eu", "us", "apac", "latam"],
    "channel": ["web", "app"],
}


def make_frame(rows: int, seed: int = 7):
    """20 columns: id, timestamp, label, 10 int, 4 float and 3 categorical features."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {
        "entity_id": pd.Series(np.arange(rows)).map("E{:08d}".format),
        "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s"),
        "label": rng.integers(0, 2, rows),
    }
    for i, name in enumerate(INTS):
        data[name] = rng.integers(0, 100 * (i + 1), rows)
    for name in FLOATS:
        values = rng.normal(50, 10, rows)
        values[rng.random(rows) < 0.001] = np.nan
        data[name] = values
    for name in CATS:
        data[name] = pd.Series(rng.choice(CAT_VALUES[name], rows)).astype(object)
    return pd.DataFrame(data)


def expectation_specs() -> list[dict]:
    """39 expectations as config entries (type, kwargs, severity)."""
    specs = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "entity_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "entity_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ts"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "label", "value_set": [0, 1]}},
        {"type": "expect_table_column_count_to_equal", "kwargs": {"value": 20}},
    ]
    for i, name in enumerate(INTS):
        specs.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": name, "min_value": 0, "max_value": 100 * (i + 1)},
            }
        )
    for name in INTS[:5]:
        specs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}})
    for name in INTS[:2]:
        specs.append(
            {
                "type": "expect_column_max_to_be_between",
                "kwargs": {"column": name, "min_value": 0, "max_value": 1000},
            }
        )
    for name in FLOATS:
        specs.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": name, "min_value": -100, "max_value": 200},
            }
        )
        specs.append(
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": name, "min_value": 40, "max_value": 60},
            }
        )
        specs.append(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": name, "mostly": 0.99},
                "severity": "warn",
            }
        )
    for name in FLOATS[:2]:
        specs.append(
            {
                "type": "expect_column_stdev_to_be_between",
                "kwargs": {"column": name, "min_value": 5, "max_value": 15},
            }
        )
    for name in CATS:
        specs.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": name, "value_set": CAT_VALUES[name]},
            }
        )
    return specs


def make_config(min_rows: int):
    from driftline.config.models import ModelConfig

    features = [{"name": n, "type": "int"} for n in INTS]
    features += [{"name": n, "type": "float"} for n in FLOATS]
    features += [{"name": n, "type": "category"} for n in CATS]
    return ModelConfig.model_validate(
        {
            "model": {"name": "bench"},
            "data": {
                "source": {"kind": "local", "path": "unused/{ds}.parquet"},
                "entity_id": "entity_id",
                "timestamp": "ts",
                "label": "label",
                "features": features,
            },
            "validation": {"min_rows": min_rows, "expectations": expectation_specs()},
            "training": {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"}},
        }
    )


def bare_gx(df, min_rows: int) -> tuple[float, bool]:
    """The same expectations built directly with GX classes and run in a plain ephemeral context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    began = time.perf_counter()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(
        globally=False
    )  # as the gate does: no tqdm on either side
    batch = (
        ctx.data_sources.add_pandas("ds").add_dataframe_asset("a").add_batch_definition_whole_dataframe("bd")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name="bare"))
    for spec in expectation_specs():
        cls = getattr(gx.expectations, "".join(p.capitalize() for p in spec["type"].split("_")))
        suite.add_expectation(cls(**spec["kwargs"]))
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=min_rows, max_value=None))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": df})
    return time.perf_counter() - began, bool(result.success)


def driftline_gate(df, config) -> tuple[float, bool]:
    from driftline.validation.gate import validate_frame

    began = time.perf_counter()
    report = validate_frame(df, config)
    report.to_dict()
    return time.perf_counter() - began, report.success


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k rows instead of 1M")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 1_000_000)

    from driftline.validation.gate import quiet_gx

    quiet_gx()
    import great_expectations as gx

    quiet_gx()
    df = make_frame(rows)
    config = make_config(min_rows=min(1000, rows))
    bare_gx(df.head(1000), 1)  # warm up imports and GX registries for both sides
    driftline_gate(df.head(1000), make_config(1))
    base_times, gate_times, outcomes = [], [], set()
    for round_ in range(args.repeat):
        sides = [("baseline", base_times), ("driftline", gate_times)]
        for side, times in sides if round_ % 2 == 0 else sides[::-1]:  # alternate who goes first
            gc.collect()
            if side == "baseline":
                seconds, ok = bare_gx(df, config.validation.min_rows)
            else:
                seconds, ok = driftline_gate(df, config)
            times.append(seconds)
            outcomes.add((side, ok))
        print(f"baseline {base_times[-1]:.2f}s  driftline {gate_times[-1]:.2f}s", file=sys.stderr)
    baseline_s, driftline_s = min(base_times), min(gate_times)
    result = {
        "benchmark": "validation",
        "rows": rows,
        "columns": len(df.columns),
        "expectations": len(expectation_specs()) + 1,
        "driftline_s": round(driftline_s, 3),
        "baseline_s": round(baseline_s, 3),
        "baseline": f"great-expectations {gx.__version__} bare",
        "ratio": round(baseline_s / driftline_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "outcomes": sorted(f"{side}:{ok}" for side, ok in outcomes),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
