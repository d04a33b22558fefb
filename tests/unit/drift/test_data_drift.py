"""Dataset verdicts, settings from the config, and every bad-input case."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from driftline.drift.data_drift import (
    DataDriftResult,
    DriftSettings,
    compute_data_drift,
    settings_from_config,
)
from driftline.drift.report import REPORT_NAME, SUMMARY_NAME, sampled_report, write_artifacts
from driftline.exceptions import DriftInputError, PermanentError

NUM = {"x": "num", "y": "num"}


def _frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1, n), "y": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n)}
    )


def test_dataset_drift_is_share_at_or_above_threshold() -> None:
    ref, cur = _frame(3000), _frame(3000, shift=1.0, seed=1)
    result = compute_data_drift(ref, cur, DriftSettings(column_types=NUM, drift_share=0.5))
    assert result.drifted_columns == ["x"]
    assert result.drift_share == 0.5 and result.dataset_drift is True
    result = compute_data_drift(ref, cur, DriftSettings(column_types=NUM, drift_share=0.6))
    assert result.dataset_drift is False
    assert DataDriftResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_settings_from_example_config(example_config) -> None:
    settings = settings_from_config(example_config)
    assert settings.column_types == {
        "tenure_months": "num",
        "monthly_charges": "num",
        "support_calls": "num",
        "usage_minutes": "num",
        "plan": "cat",
        "autopay": "cat",
    }
    assert settings.drift_share == 0.3 and settings.sample_size == 50_000
    assert settings.method_for("usage_minutes") == ("wasserstein", 0.1)
    assert settings.method_for("plan") == (None, None)


def test_global_method_only_applies_where_evidently_allows_it() -> None:
    settings = DriftSettings(column_types={"x": "num", "c": "cat"}, method="ks", threshold=0.01)
    assert settings.method_for("x") == ("ks", 0.01)
    assert settings.method_for("c") == (None, 0.01)  # categorical: default method, global threshold
    result = compute_data_drift(_frame(2000), _frame(2000, seed=2), settings)
    assert (
        result.columns["x"].method == "ks" and result.columns["c"].method == "chisquare"
    )  # calibrated default
    assert result.columns["c"].threshold == 0.01


def test_empty_current_window_is_an_error_not_no_drift() -> None:
    ref = _frame(100)
    with pytest.raises(DriftInputError, match="current window has 0 rows"):
        compute_data_drift(ref, ref.iloc[0:0], DriftSettings(column_types=NUM))
    with pytest.raises(DriftInputError, match=r"reference data .* has 0 rows"):
        compute_data_drift(ref.iloc[0:0], ref, DriftSettings(column_types=NUM))
    assert issubclass(DriftInputError, PermanentError)


def test_different_columns_are_listed() -> None:
    ref, cur = _frame(100), _frame(100).rename(columns={"y": "y2"})
    with pytest.raises(DriftInputError, match=r"missing in the current window: \['y'\]"):
        compute_data_drift(ref, cur, DriftSettings(column_types=NUM))
    with pytest.raises(DriftInputError, match=r"missing in the reference: \['y'\]"):
        compute_data_drift(cur, ref, DriftSettings(column_types=NUM))


def test_incompatible_dtypes_are_listed() -> None:
    ref, cur = _frame(100), _frame(100)
    cur["x"] = cur["x"].astype(str)
    cur["c"] = cur["c"] == "a"
    with pytest.raises(
        DriftInputError, match=r"x: numerical feature but the current dtype is object; c: reference"
    ):
        compute_data_drift(ref, cur, DriftSettings(column_types={"x": "num", "c": "cat"}))


def test_configured_method_must_fit_the_column_type() -> None:
    settings = DriftSettings(column_types={"c": "cat"}, columns={"c": ("wasserstein", 0.1)})
    with pytest.raises(
        DriftInputError, match=r"drift.columns.c.method 'wasserstein' does not apply to a categorical"
    ):
        compute_data_drift(_frame(100), _frame(100), settings)


def test_constant_and_all_null_columns() -> None:
    n = 2000
    ref = pd.DataFrame(
        {"same": np.ones(n), "moved": np.ones(n), "gone": np.arange(n, dtype=float), "never": np.nan}
    )
    cur = pd.DataFrame({"same": np.ones(n), "moved": np.full(n, 2.0), "gone": np.nan, "never": np.nan})
    types = dict.fromkeys(ref.columns, "num")
    result = compute_data_drift(ref, cur, DriftSettings(column_types=types))
    assert result.columns["same"].drifted is False and result.columns["same"].p_value == 1.0
    assert result.columns["moved"].drifted is True
    gone = result.columns["gone"]
    assert (gone.drifted, gone.status, gone.statistic) == (True, "current_all_null", None)
    never = result.columns["never"]
    assert (never.drifted, never.status) == (None, "not_comparable")
    assert result.not_comparable == ["never"]
    assert result.number_of_columns == 3 and result.drift_share == pytest.approx(2 / 3)


def test_no_comparable_column_is_an_error() -> None:
    ref = pd.DataFrame({"x": [np.nan] * 10})
    with pytest.raises(DriftInputError, match=r"no column can be compared.*\['x'\]"):
        compute_data_drift(ref, pd.DataFrame({"x": [1.0] * 10}), DriftSettings(column_types={"x": "num"}))


@pytest.mark.slow
def test_sampled_report_and_artifacts(tmp_path) -> None:
    ref, cur = _frame(3000), _frame(2500, shift=1.0, seed=1)
    ref.loc[:, "gone"] = 1.0
    cur.loc[:, "gone"] = np.nan
    settings = DriftSettings(
        column_types={"x": "num", "y": "num", "c": "cat", "gone": "num"}, sample_size=1000
    )
    result = compute_data_drift(ref, cur, settings)
    snap, summary = sampled_report(ref, cur, result, settings)
    assert (
        summary["sampled"] is True and summary["reference_rows"] == 1000 and summary["current_rows"] == 1000
    )
    assert summary["excluded_columns"] == ["gone"]
    assert set(summary["columns"]) == {"x", "y", "c"}
    # the sample keeps the methods resolved on the full data: Driftline's calibrated KS, plugged
    # into Evidently's stat-test registry
    assert summary["columns"]["x"]["method"] in ("driftline_ks", "ks (Driftline calibrated p_value)")
    assert summary["columns"]["x"]["drifted"] is True
    paths = write_artifacts(
        str(tmp_path / "run"), snap, {"data_drift": result.to_dict(), "evidently": summary}
    )
    assert paths == {
        "report_html": str(tmp_path / "run" / REPORT_NAME),
        "summary_json": str(tmp_path / "run" / SUMMARY_NAME),
        "report_bytes": (tmp_path / "run" / REPORT_NAME).stat().st_size,
    }
    assert "<html" in (tmp_path / "run" / REPORT_NAME).read_text()[:2000].lower()
    saved = json.loads((tmp_path / "run" / SUMMARY_NAME).read_text())
    assert saved["data_drift"]["drifted_columns"] == ["gone", "x"]
