"""Write the example churn model's daily partitions, with a known drift event and one corrupt day.

    python include/generate_churn_data.py --out .driftline/data --start 2026-01-01 --days 40

Layout: `<out>/churn/dt=YYYY-MM-DD/part.parquet`, one file per day. From `--drift-day` on,
usage, support calls and charges shift and the churn relationship changes (data and concept
drift). `--corrupt-day` gets broken rows (null ids, an unknown plan, negative tenure) that the
validation gate must quarantine. Output is deterministic for a given seed.

A/B outcomes: `<out>/churn_outcomes/dt=YYYY-MM-DD/part.parquet`, one row per customer of that
day (the config's `ab_test.outcomes`): `retained` (the KPI, 0/1), `churned` (the label),
`revenue` (a guardrail) and `prior_retained` (a pre-period covariate for CUPED). Each customer's
arm comes from driftline's `assign_arms` with the example config's salt and shares, and the
arms truly differ: customers in the challenger arm are retained more often (+`--challenger-lift`)
than the champion's, and the no_model holdout less often (-`--holdout-loss`).
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


AB_SALT = "churn-ab-demo"  # dags/configs/churn.yaml ab_test.salt / challenger_share / holdout_share
AB_CHALLENGER_SHARE = 0.3
AB_HOLDOUT_SHARE = 0.1
CHALLENGER_LIFT = 0.06
HOLDOUT_LOSS = 0.08


def outcomes_frame(
    customers: pd.Series,
    day: dt.date,
    seed: int,
    *,
    salt: str = AB_SALT,
    challenger_share: float = AB_CHALLENGER_SHARE,
    holdout_share: float = AB_HOLDOUT_SHARE,
    challenger_lift: float = CHALLENGER_LIFT,
    holdout_loss: float = HOLDOUT_LOSS,
) -> pd.DataFrame:
    """The outcome of every customer scored on `day`, by the arm the A/B split puts it in."""
    from driftline.experiments.assignment import assign_arms

    ids = customers.dropna().drop_duplicates().reset_index(drop=True)
    rng = np.random.default_rng([seed, day.toordinal(), 7])
    n = len(ids)
    propensity = rng.normal(1.4, 0.9, n)  # a customer's loyalty: drives both periods (CUPED's lever)
    prior = 1 / (1 + np.exp(-(propensity + rng.normal(0, 0.5, n))))
    arms = assign_arms(
        ids.to_numpy(), salt=salt, challenger_share=challenger_share, holdout_share=holdout_share
    )
    p_retained = 1 / (1 + np.exp(-propensity))
    p_retained = p_retained + np.select(
        [arms == "challenger", arms == "no_model"], [challenger_lift, -holdout_loss], 0.0
    )
    retained = (rng.random(n) < p_retained.clip(0, 1)).astype("int64")
    revenue = retained * rng.gamma(9.0, 6.0, n)
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str),
            "outcome_date": pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=23),
            "retained": retained,
            "churned": 1 - retained,
            "revenue": revenue.round(2),
            "prior_retained": prior.round(4),
        }
    )


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def generate(
    out: Path,
    start: dt.date,
    days: int,
    rows: int = 2000,
    drift_day: dt.date | None = None,
    corrupt_day: dt.date | None = None,
    seed: int = 42,
    outcomes: bool = True,
) -> list[Path]:
    """Write `days` daily partitions from `start` (and, with `outcomes`, the A/B outcomes of each
    day's customers); returns the data files written."""
    written = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        df = day_frame(day, rows, drifted=drift_day is not None and day >= drift_day, seed=seed)
        if outcomes:
            _write(
                outcomes_frame(df["customer_id"], day, seed),
                out / "churn_outcomes" / f"dt={day.isoformat()}" / "part.parquet",
            )
        if corrupt_day is not None and day == corrupt_day:
            df = corrupt(df, seed)
        written.append(_write(df, out / "churn" / f"dt={day.isoformat()}" / "part.parquet"))
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
