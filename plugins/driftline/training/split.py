"""Split a window into train and validation parts by time: the latest days are validation."""

from __future__ import annotations

import pandas as pd

from driftline.training.errors import TrainingInputError


def as_utc(values: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC (naive values are taken to be UTC)."""
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    return ts


def holdout_days(ts: pd.Series, validation_days: int, min_rows: int) -> int:
    """How many latest calendar days to hold out: `validation_days`, extended backwards one day at a
    time until the held-out rows reach `min_rows` (training.min_validation_rows).

    Refuses (TrainingInputError) when that would hold out as many rows as are left for training, or
    when the whole window has fewer rows than needed: a baseline of a few rows or a few unusual days
    makes every later comparison noisy.
    """
    days = ts.dt.floor("D")
    last_day = days.max()
    age = ((last_day - days).dt.days).to_numpy()
    counts = pd.Series(age).value_counts().sort_index()
    per_day = counts.reindex(range(int(age.max()) + 1), fill_value=0).to_numpy()
    cumulative = per_day.cumsum()
    total = int(cumulative[-1])
    k = validation_days
    while k <= len(cumulative) and int(cumulative[k - 1]) < min_rows:
        k += 1
    held = int(cumulative[min(k, len(cumulative)) - 1])
    if held < min_rows or (k > validation_days and total - held < held):
        if held < min_rows:
            problem = f"the whole window has {total} rows"
        else:
            problem = (
                f"holding out the latest {k} day(s) ({held} rows) would leave only {total - held} to train on"
            )
        raise TrainingInputError(
            f"cannot hold out training.min_validation_rows={min_rows} rows: the latest "
            f"{validation_days} day(s) (training.validation_days) hold {int(cumulative[min(validation_days, len(cumulative)) - 1])} "
            f"rows and {problem}; widen data.window or lower training.min_validation_rows"
        )
    return k


def time_split(
    df: pd.DataFrame, timestamp_col: str, validation_days: int, min_rows: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, valid): `valid` holds the rows of the latest calendar days (UTC).

    The last day is the day of the newest timestamp; validation starts at midnight
    `days - 1` days before it, where `days` is `validation_days` extended backwards until the
    held-out part has `min_rows` rows (see `holdout_days`). Raises TrainingInputError if either
    part is empty or `min_rows` cannot be met.
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
    days = validation_days if min_rows <= 1 else holdout_days(ts.dropna(), validation_days, min_rows)
    cutoff = last_day - pd.Timedelta(days=days - 1)
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
