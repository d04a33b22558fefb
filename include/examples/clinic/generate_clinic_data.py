"""Write the clinic example's warehouse export: daily CSV files in cp1252, built from sklearn's diabetes data.

    python include/examples/clinic/generate_clinic_data.py --out .driftline/data --start 2026-03-01 --days 12

Layout: `<out>/clinic/visits_YYYYMMDD.csv`, one file per day, encoded cp1252 (as a Windows
export would be) with clinic names such as Zürich and São Paulo. Each row is one patient visit:
`PatientID` (integer), `Visit Time` (half naive UTC text, half ISO 8601 with the Zurich offset),
`AGE`, `Sex`, `Body Mass Index`, `Blood Pressure` (about 4% missing), `S1`..`S6` (blood serum
measurements), `Clinic`, and the label `Disease Progression` one year later (a regression target).
Rows are resampled from the 442 patients of `sklearn.datasets.load_diabetes` with a little noise.
With `--sqlite PATH` the same rows also go into table `visits` of a SQLite file.

Days that test the pipeline (each optional): `--unseen-day` has a clinic the model never saw
(Genève), `--empty-day` a file with a header and no rows, `--renamed-day` a schema change
(`Blood Pressure` exported as `BP`). Output is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

CLINICS = np.array(["Zürich", "Malmö", "São Paulo", "Besançon", "Kraków"])
NEW_CLINIC = "Genève"
PATIENTS = 5_000


def day_frame(day: dt.date, rows: int = 300, seed: int = 11) -> pd.DataFrame:
    """One day of visits (timestamps tz-aware UTC)."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    rng = np.random.default_rng([seed, day.toordinal()])
    pick = rng.integers(0, len(X), rows)
    base = X.iloc[pick].reset_index(drop=True)

    def jitter(column: str, sd: float) -> np.ndarray:
        return (base[column].to_numpy() + rng.normal(0, sd, rows)).round(2)

    seconds = np.sort(rng.integers(0, 86_400, rows))
    frame = pd.DataFrame(
        {
            "PatientID": (rng.choice(PATIENTS, size=rows, replace=False) + 100_000).astype("int64"),
            "Visit Time": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s"),
            "AGE": base["age"].astype("int64"),
            "Sex": np.where(base["sex"] == 1, "F", "M"),
            "Body Mass Index": jitter("bmi", 0.3),
            "Blood Pressure": jitter("bp", 1.0),
            "S1": jitter("s1", 2.0),
            "S2": jitter("s2", 2.0),
            "S3": jitter("s3", 1.0),
            "S4": jitter("s4", 0.1),
            "S5": jitter("s5", 0.05),
            "S6": jitter("s6", 1.0),
            "Clinic": CLINICS[rng.integers(0, len(CLINICS), rows)],
            "Disease Progression": (y.iloc[pick].to_numpy() + rng.normal(0, 5, rows)).round(1),
        }
    )
    frame.loc[rng.random(rows) < 0.04, "Blood Pressure"] = np.nan
    return frame


def export_text(stamps: pd.Series) -> pd.Series:
    """Timestamps as an export writes them: even rows naive UTC text, odd rows ISO with the Zurich offset."""
    naive = stamps.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S")
    aware = stamps.dt.tz_convert("Europe/Zurich").map(lambda t: t.isoformat())
    return pd.Series(np.where(np.arange(len(stamps)) % 2 == 0, naive, aware), index=stamps.index)


def generate(
    out: Path,
    start: dt.date,
    days: int,
    rows: int = 300,
    unseen_day: dt.date | None = None,
    empty_day: dt.date | None = None,
    renamed_day: dt.date | None = None,
    sqlite: Path | None = None,
    seed: int = 11,
) -> list[Path]:
    """Write the daily CSV files (and the SQLite table); returns the CSV paths."""
    folder = out / "clinic"
    folder.mkdir(parents=True, exist_ok=True)
    if sqlite is not None:
        sqlite.unlink(missing_ok=True)
    written = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        frame = day_frame(day, rows, seed)
        if day == unseen_day:
            frame.loc[frame.index[::10], "Clinic"] = NEW_CLINIC
        if day == empty_day:
            frame = frame.iloc[0:0]
        if sqlite is not None and day != renamed_day:
            with sqlite3.connect(sqlite) as conn:
                text = frame["Visit Time"].dt.strftime("%Y-%m-%d %H:%M:%S")
                frame.assign(**{"Visit Time": text}).to_sql("visits", conn, index=False, if_exists="append")
        if day == renamed_day:
            frame = frame.rename(columns={"Blood Pressure": "BP"})
        path = folder / f"visits_{day:%Y%m%d}.csv"
        frame = frame.assign(**{"Visit Time": export_text(frame["Visit Time"])})
        path.write_bytes(frame.to_csv(index=False).encode("cp1252"))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".driftline/data"))
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 1))
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--unseen-day", type=dt.date.fromisoformat, default=dt.date(2026, 3, 8))
    parser.add_argument("--empty-day", type=dt.date.fromisoformat, default=dt.date(2026, 3, 9))
    parser.add_argument("--renamed-day", type=dt.date.fromisoformat, default=dt.date(2026, 3, 10))
    parser.add_argument("--sqlite", type=Path, default=None)
    args = parser.parse_args()
    paths = generate(
        args.out,
        args.start,
        args.days,
        args.rows,
        args.unseen_day,
        args.empty_day,
        args.renamed_day,
        args.sqlite,
    )
    print(f"wrote {len(paths)} daily CSV files (cp1252) under {args.out / 'clinic'}")


if __name__ == "__main__":
    main()
