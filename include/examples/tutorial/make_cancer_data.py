"""The tutorial's data: scikit-learn's bundled breast-cancer data set as one CSV per day.

    .venv/bin/python include/examples/tutorial/make_cancer_data.py --out .driftline/data

569 patients, split round-robin over four days (2026-02-01..04), one file per day at
`<out>/cancer/dt=<day>/part.csv`, with a patient id, a timestamp inside the day and the label
`malignant` (1 = malignant; scikit-learn's own target has 0 = malignant). The data ships inside
scikit-learn (no download).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

DAYS = pd.date_range("2026-02-01", periods=4, freq="D", tz="UTC")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".driftline/data"))
    args = parser.parse_args(argv)
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["malignant"] = 1 - frame.pop("target")
    frame.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(frame))])
    for n, day in enumerate(DAYS):
        part = frame.iloc[n :: len(DAYS)].copy()
        part["seen_at"] = day + pd.to_timedelta(range(len(part)), unit="min")
        folder = args.out / "cancer" / f"dt={day:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_csv(folder / "part.csv", index=False)
        print(f"{folder / 'part.csv'}: {len(part)} rows")


if __name__ == "__main__":
    main()
