"""Split a window into train and validation parts by time: the latest days are validation."""

from __future__ import annotations

import pandas as pd

from driftline.training.errors import TrainingInputError


def as_utc(values: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC (naive values are taken to be UTC)."""
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    return ts


def time_split(
    df: pd.DataFrame, timestamp_col: str, validation_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, valid): `valid` holds the rows of the latest `validation_days` calendar days (UTC).

    The last day is the day of the newest timestamp; validation starts at midnight
    `validation_days - 1` days before it. Raises TrainingInputError if either part is empty.
    """
    if validation_days < 1:
        raise TrainingInputError(f"training.validation_days must be at least 1, got {validation_days}")
    if timestamp_col not in df.columns:
        raise TrainingInputError(
            f"data.timestamp column {timestamp_col!r} is not in the snapshot "
            f"(columns: {sorted(map(str, df.columns))})"
        )
    ts = as_utc(df[timestamp_col])
    if ts.isna().any():  # loads refuse these; never let one fall into the training part
        raise TrainingInputError(
            f"data.timestamp column {timestamp_col!r} has {int(ts.isna().sum())} of {len(ts)} row(s) "
            "without a parseable timestamp; they are refused, not trained on"
        )
    last_day = ts.max().floor("D")
    cutoff = last_day - pd.Timedelta(days=validation_days - 1)
    is_valid = (ts >= cutoff).to_numpy()
    train_df, valid_df = df.loc[~is_valid], df.loc[is_valid]
    span = f"data from {ts.min().isoformat()} to {ts.max().isoformat()}"
    if train_df.empty:
        raise TrainingInputError(
            f"nothing left to train on: training.validation_days={validation_days} holds out every row "
            f"({span}, validation from {cutoff.date().isoformat()}); "
            "lower validation_days or widen data.window"
        )
    if valid_df.empty:
        raise TrainingInputError(
            f"no validation rows: training.validation_days={validation_days} selects nothing ({span})"
        )
    return train_df, valid_df
