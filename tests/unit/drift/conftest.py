"""Synthetic reference/current frames with known shifts, for the drift tests."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

#: name -> column type ("num" / "cat") of the frames below
TYPES = {
    "normal": "num",  # shifted by `shift` in the current frame
    "stable": "num",  # never shifted
    "skewed": "num",  # exponential, scale grows with `shift`
    "nullish": "num",  # 10% nulls and some +-inf, shifted by shift/2
    "few_values": "num",  # floats with 4-5 distinct values
    "binary_int": "num",  # int 0/1
    "small_ints": "num",  # ints 0..21(+): histogram binning on integers
    "constant": "num",
    "plan": "cat",  # 3 categories, mix changes with `shift`
    "flag": "cat",  # bool
    "coin": "cat",  # 2 categories, never shifted
}


def make_frames(n_ref: int, n_cur: int, shift: float, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n: int, s: float) -> pd.DataFrame:
        nullish = rng.normal(s / 2, 1, n)
        nullish[rng.random(n) < 0.1] = np.nan
        nullish[rng.random(n) < 0.01] = np.inf
        return pd.DataFrame(
            {
                "normal": rng.normal(s, 1, n),
                "stable": rng.normal(0, 1, n),
                "skewed": rng.exponential(1 + s, n),
                "nullish": nullish,
                "few_values": rng.integers(0, 4, n).astype(float) + (rng.random(n) < s / 3),
                "binary_int": (rng.random(n) < 0.5 + s / 4).astype("int64"),
                "small_ints": rng.integers(0, 22 + int(s * 3), n),
                "constant": np.ones(n),
                "plan": rng.choice(
                    ["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2] if s == 0 else [0.3, 0.3, 0.4]
                ),
                "flag": rng.random(n) < 0.3 + s / 5,
                "coin": rng.choice(["heads", "tails"], n),
            }
        )

    return frame(n_ref, 0.0), frame(n_cur, shift)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def frames():
    """make_frames(n_ref, n_cur, shift, seed=1) -> (reference, current)."""
    return make_frames


@pytest.fixture
def types() -> dict[str, str]:
    return dict(TYPES)
