"""The duckdb engine's drift from aggregates takes the pandas engine's decision, column by column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from driftline.config.models import ComputeSection
from driftline.data.snapshots import SnapshotRef, write_snapshot
from driftline.drift.data_drift import DriftSettings, compute_data_drift
from driftline.engines.aggregates import VALUES_ROWS
from driftline.engines.duckdb import DuckDBEngine

TYPES = {
    "normal": "num",
    "stable": "num",
    "skewed": "num",
    "nullish": "num",  # nulls, NaN and +-inf
    "few_values": "num",  # 4 distinct floats: Jensen-Shannon on value shares
    "binary_int": "num",
    "small_ints": "num",  # 30 distinct ints: exact value counts
    "wide_ints": "num",  # thousands of distinct ints: one grid bin per value, exact
    "js_num": "num",  # jensenshannon configured: Sturges bins
    "ks_num": "num",  # ks configured
    "month": "num",  # constant in the current window
    "gone": "num",  # all null in the current window
    "plan": "cat",
    "flag": "cat",
    "coin": "cat",
    "city": "cat",  # many categories
}


def frames(n_ref: int, n_cur: int, shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(n: int, s: float, current: bool) -> pd.DataFrame:
        nullish = rng.normal(s / 2, 1, n)
        nullish[rng.random(n) < 0.1] = np.nan
        nullish[rng.random(n) < 0.01] = np.inf
        nullish[rng.random(n) < 0.01] = -np.inf
        p = np.array([0.5 - s / 4, 0.3, 0.2 + s / 4])
        return pd.DataFrame(
            {
                "normal": rng.normal(s, 1, n),
                "stable": rng.normal(0, 1, n),
                "skewed": rng.exponential(1 + s, n),
                "nullish": nullish,
                "few_values": rng.choice([0.5, 1.5, 2.5, 3.5], n, p=[0.4, 0.3, 0.2 + s / 10, 0.1 - s / 10]),
                "binary_int": (rng.random(n) < 0.3 + s / 5).astype("int64"),
                "small_ints": rng.poisson(10 + 3 * s, n).astype("int64"),
                "wide_ints": rng.integers(0, 5000 + int(2000 * s), n),
                "js_num": rng.normal(s / 3, 1, n),
                "ks_num": rng.normal(s / 20, 1, n),
                "month": np.full(n, 3, dtype="int64") if current else rng.integers(1, 13, n),
                "gone": np.full(n, np.nan) if current else rng.normal(0, 1, n),
                "plan": pd.Categorical(rng.choice(["basic", "standard", "premium"], n, p=p / p.sum())),
                "flag": rng.random(n) < 0.4 + s / 5,
                "coin": rng.choice(["h", "t"], n),
                "city": rng.choice([f"c{i}" for i in range(200 + int(50 * s))], n),
            }
        )

    return one(n_ref, 0.0, False), one(n_cur, shift, True)


def settings() -> DriftSettings:
    return DriftSettings(
        column_types=dict(TYPES),  # type: ignore[arg-type]
        columns={"js_num": ("jensenshannon", None), "ks_num": ("ks", None)},
        drift_share=0.3,
        decision="evidently",  # what the aggregates reproduce (the calibrated path is refused)
    )


def snap(tmp_path: Path, name: str, df: pd.DataFrame) -> SnapshotRef:
    return write_snapshot(df, str(tmp_path / f"{name}.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize(("n_ref", "n_cur", "shift", "seed"), [(20_000, 5_000, 0.0, 1), (20_000, 5_000, 0.3, 2),
                                                                 (30_000, 30_000, 1.0, 3), (3_000, 1_500, 0.15, 4)])  # fmt: skip
def test_same_decisions_column_by_column(
    tmp_path: Path, n_ref: int, n_cur: int, shift: float, seed: int
) -> None:
    ref, cur = frames(n_ref, n_cur, shift, seed)
    expected = compute_data_drift(ref, cur, settings())
    engine = DuckDBEngine(ComputeSection(engine="duckdb", memory_limit_mb=256, exact_below_rows=0))
    got = engine.data_drift(snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), settings())
    for name in TYPES:
        e, g = expected.columns[name], got.columns[name]
        assert (g.method, g.status, g.drifted) == (e.method, e.status, e.drifted), name
        assert g.threshold == e.threshold, name
        binned = name in ("normal", "stable", "skewed", "nullish", "ks_num") and not (
            n_ref <= VALUES_ROWS and n_cur <= VALUES_ROWS  # small columns are decided on their values
        )
        if e.statistic is not None and not binned:
            assert g.statistic == pytest.approx(e.statistic, rel=1e-9, abs=1e-12), name
        elif e.statistic is not None:  # binned: within its error bound (KS: a p-value near 0.3)
            assert g.statistic == pytest.approx(e.statistic, abs=0.05 if name == "ks_num" else 0.01), name
            assert g.reason is not None and "bins" in g.reason, name
        assert (g.reference_rows, g.current_rows) == (e.reference_rows, e.current_rows), name
    assert got.dataset_drift == expected.dataset_drift
    assert got.drifted_columns == expected.drifted_columns
    assert got.constant_in_window == expected.constant_in_window == ["month"]
    assert got.columns["gone"].status == "current_all_null"


def test_small_windows_are_read_whole_and_decided_by_the_pandas_code(tmp_path: Path) -> None:
    ref, cur = frames(800, 300, 0.5, 7)  # <= 1000 reference rows: ks / chisquare / z on the values
    expected = compute_data_drift(ref, cur, settings())
    engine = DuckDBEngine(ComputeSection(engine="duckdb"))
    got = engine.data_drift(snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), settings())
    assert {n: (c.method, c.drifted) for n, c in got.columns.items()} == {
        n: (c.method, c.drifted) for n, c in expected.columns.items()
    }
    assert got.engine.startswith("duckdb (read whole")


def test_a_method_that_needs_the_values_is_refused_on_aggregates(tmp_path: Path) -> None:
    from driftline.exceptions import DriftInputError

    ref, cur = frames(20_000, 12_000, 0.0, 8)  # above VALUES_ROWS: on aggregates
    s = DriftSettings(column_types={"normal": "num"}, columns={"normal": ("psi", None)}, decision="evidently")
    engine = DuckDBEngine(ComputeSection(engine="duckdb", exact_below_rows=0))
    with pytest.raises(DriftInputError, match=r"drift.columns.normal.method 'psi' needs the column's values"):
        engine.data_drift(snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), s)


def test_hostile_column_names_are_quoted(tmp_path: Path) -> None:
    name = 'a"; DROP TABLE x; --'
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({name: rng.normal(0, 1, 3000), "o'k": rng.choice(["x", "y"], 3000)})
    cur = pd.DataFrame({name: rng.normal(1, 1, 2000), "o'k": rng.choice(["x", "y"], 2000)})
    s = DriftSettings(column_types={name: "num", "o'k": "cat"}, decision="evidently")
    expected = compute_data_drift(ref, cur, s)
    got = DuckDBEngine(ComputeSection(engine="duckdb", exact_below_rows=0)).data_drift(
        snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), s
    )
    assert got.drifted_columns == expected.drifted_columns == [name]


# --- drift.decision: calibrated (two-sample tests, nulls at the current size, Holm) ----------------


def calibrated_settings() -> DriftSettings:
    return DriftSettings(
        column_types=dict(TYPES),  # type: ignore[arg-type]
        columns={
            "js_num": ("jensenshannon", None),  # a share distance on the reference's quantile bins
            "ks_num": ("ks", None),
            "skewed": ("wasserstein", None),  # a distance with its resampled null
            "city": ("psi", None),  # a categorical share distance
        },
        drift_share=0.3,
        decision="calibrated",
    )


BINNED = ("normal", "stable", "skewed", "nullish", "js_num", "ks_num")  # continuous: more values than bins


@pytest.mark.parametrize(("n_ref", "n_cur", "shift", "seed"), [(20_000, 5_000, 0.0, 1), (20_000, 5_000, 0.3, 2),
                                                                 (30_000, 30_000, 1.0, 3), (20_000, 200, 0.5, 5),
                                                                 (200, 200, 0.8, 6), (12_000, 11_000, 0.05, 9)])  # fmt: skip
def test_calibrated_decisions_equal_the_pandas_engine_column_by_column(
    tmp_path: Path, n_ref: int, n_cur: int, shift: float, seed: int
) -> None:
    ref, cur = frames(n_ref, n_cur, shift, seed)
    expected = compute_data_drift(ref, cur, calibrated_settings())
    engine = DuckDBEngine(ComputeSection(engine="duckdb", memory_limit_mb=256, exact_below_rows=0))
    got = engine.data_drift(snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), calibrated_settings())
    small = n_ref <= VALUES_ROWS and n_cur <= VALUES_ROWS
    for name in TYPES:
        e, g = expected.columns[name], got.columns[name]
        assert (g.decision, g.method, g.status, g.drifted) == ("calibrated", e.method, e.status, e.drifted), (
            name
        )
        assert (g.threshold, g.alpha) == (e.threshold, e.alpha), name
        assert (g.reference_rows, g.current_rows) == (e.reference_rows, e.current_rows), name
        if e.p_value is None:
            assert g.p_value is None, name
        elif name in BINNED and not small:  # on the grid: close, and the decision above is the same
            assert g.p_value == pytest.approx(e.p_value, abs=0.05), name
            if g.p_value > 1e-12:  # a p-value of 0 stays 0 within the bound: nothing to report
                assert g.reason is not None and "bins" in g.reason, name
        else:  # exact value counts (or a small column read whole): the same p-value
            assert g.p_value == pytest.approx(e.p_value, rel=1e-6, abs=1e-12), name
        assert (g.p_adjusted is None) == (e.p_adjusted is None), name  # Holm's family: the same columns
    assert got.dataset_drift == expected.dataset_drift
    assert got.drifted_columns == expected.drifted_columns
    assert got.constant_in_window == expected.constant_in_window == ["month"]
    assert got.engine.startswith("duckdb aggregates") and "Holm" in got.engine


def test_calibrated_on_the_real_engine_reads_a_200_row_window_whole(tmp_path: Path) -> None:
    ref, cur = frames(200, 200, 0.8, 10)
    expected = compute_data_drift(ref, cur, calibrated_settings())
    got = DuckDBEngine(ComputeSection(engine="duckdb")).data_drift(
        snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), calibrated_settings()
    )
    assert {n: (c.method, c.drifted, c.p_adjusted) for n, c in got.columns.items()} == {
        n: (c.method, c.drifted, c.p_adjusted) for n, c in expected.columns.items()
    }


def test_calibrated_exact_counts_give_the_pandas_p_values_for_every_method(tmp_path: Path) -> None:
    """Integer columns (one grid bin per value): KS, Wasserstein with its null, the share distances."""
    rng = np.random.default_rng(11)
    n_ref, n_cur = 40_000, 15_000
    ref = pd.DataFrame(
        {m: rng.poisson(20, n_ref) for m in ("ks", "wasserstein", "jensenshannon", "psi", "hellinger")}
    )
    cur = pd.DataFrame({m: rng.poisson(20.3, n_cur) for m in ref.columns})
    s = DriftSettings(
        column_types=dict.fromkeys(ref.columns, "num"),  # type: ignore[arg-type]
        columns={m: (m, None) for m in ref.columns},
        decision="calibrated",
    )
    expected = compute_data_drift(ref, cur, s)
    got = DuckDBEngine(ComputeSection(engine="duckdb", exact_below_rows=0)).data_drift(
        snap(tmp_path, "ref", ref), snap(tmp_path, "cur", cur), s
    )
    for name in ref.columns:
        e, g = expected.columns[name], got.columns[name]
        assert (g.method, g.drifted) == (e.method, e.drifted), name
        assert g.statistic == pytest.approx(e.statistic, rel=1e-9, abs=1e-12), name
        assert g.p_value == pytest.approx(e.p_value, rel=1e-9, abs=1e-12), name
