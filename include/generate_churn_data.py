"""Write the example churn model's daily partitions, with a known drift event and one corrupt day.

    python include/generate_churn_data.py --out .driftline/data --start 2026-01-01 --days 40

Layout: `<out>/churn/dt=YYYY-MM-DD/part.parquet`, one file per day. From `--drift-day` on,
usage, support calls and charges shift and the churn relationship changes (data and concept
drift). `--corrupt-day` gets broken rows (null ids, an unknown plan, negative tenure) that the
validation gate must quarantine. Output is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

PLANS = np.array(["basic", "standard", "premium"])
CUSTOMERS = 50_000


def day_frame(day: dt.date, rows: int, drifted: bool, seed: int) -> pd.DataFrame:
    """One day of customer snapshots with their churn outcome."""
    rng = np.random.default_rng([seed, day.toordinal()])
    ids = rng.choice(CUSTOMERS, size=rows, replace=False)
    tenure = rng.gamma(2.0, 12.0, rows).round().astype("int64")
    plan = PLANS[rng.choice(3, size=rows, p=[0.5, 0.35, 0.15])]
    base_charge = np.select([plan == "basic", plan == "standard"], [25.0, 55.0], 95.0)
    charges = (base_charge + rng.normal(0, 8, rows)).clip(5.0)
    support = rng.poisson(1.2, rows)
    usage = rng.normal(420, 90, rows).clip(0)
    autopay = rng.random(rows) < 0.6
    if drifted:
        usage = (usage * 0.55 + rng.normal(0, 40, rows)).clip(0)
        support = support + rng.poisson(2.0, rows)
        charges = charges * 1.25
    logit = (
        -1.2 - 0.04 * tenure + 0.45 * support - 0.004 * (usage - 420) + 0.01 * (charges - 50) - 0.6 * autopay
    )
    if drifted:  # concept drift: price sensitivity grows, usage matters less
        logit = -1.2 - 0.02 * tenure + 0.2 * support + 0.04 * (charges - 60) - 0.3 * autopay
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    start = pd.Timestamp(day, tz="UTC")
    seconds = np.sort(rng.integers(0, 86_400, rows))
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in ids],
            "event_time": start + pd.to_timedelta(seconds, unit="s"),
            "tenure_months": tenure,
            "monthly_charges": charges.round(2),
            "support_calls": support.astype("int64"),
            "usage_minutes": usage.round(1),
            "plan": plan,
            "autopay": autopay,
            "churned": churned,
        }
    )


def corrupt(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Break a day the way upstream bugs do: null ids, an unknown plan, negative tenure."""
    rng = np.random.default_rng(seed)
    df = df.copy()
    n = len(df)
    df.loc[rng.choice(n, n // 20, replace=False), "customer_id"] = None
    df.loc[rng.choice(n, n // 10, replace=False), "plan"] = "gold"
    df.loc[rng.choice(n, n // 25, replace=False), "tenure_months"] = -5
    return df


def generate(
    out: Path,
    start: dt.date,
    days: int,
    rows: int = 2000,
    drift_day: dt.date | None = None,
    corrupt_day: dt.date | None = None,
    seed: int = 42,
) -> list[Path]:
    """Write `days` daily partitions from `start`; returns the files written."""
    written = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        df = day_frame(day, rows, drifted=drift_day is not None and day >= drift_day, seed=seed)
        if corrupt_day is not None and day == corrupt_day:
            df = corrupt(df, seed)
        path = out / "churn" / f"dt={day.isoformat()}" / "part.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    return written


DEFAULT_START = dt.date(2026, 1, 1)
DEFAULT_DAYS = 40
DEFAULT_CORRUPT_DAY = dt.date(2026, 1, 17)
DEFAULT_DRIFT_DAY = dt.date(2026, 1, 20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--drift-day", type=dt.date.fromisoformat, default=DEFAULT_DRIFT_DAY)
    parser.add_argument("--corrupt-day", type=dt.date.fromisoformat, default=DEFAULT_CORRUPT_DAY)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    files = generate(args.out, args.start, args.days, args.rows, args.drift_day, args.corrupt_day, args.seed)
    print(f"wrote {len(files)} daily partitions under {args.out / 'churn'}")


if __name__ == "__main__":
    main()
