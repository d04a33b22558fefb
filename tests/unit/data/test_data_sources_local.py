"""Local parquet/CSV sources: templates, globs, discovery, and every bad-input class."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from data_helpers import ROWS, utc
from driftline.config.models import LocalSource, WindowSection
from driftline.data.sources import CorruptPartitionError, SourceSchemaError, load_window
from driftline.data.windows import resolve_window
from driftline.exceptions import DataSourceError, PermanentError

TEMPLATE = "{data_root}/churn/dt={ds}/part.parquet"
COLUMNS = ["customer_id", "event_time", "tenure_months", "monthly_charges", "plan", "autopay", "churned"]
TYPES = {"tenure_months": "int", "monthly_charges": "float", "plan": "category", "autopay": "bool"}


def current(day: int):
    return resolve_window(WindowSection(), utc(2026, 1, day), utc(2026, 1, day + 1), purpose="current")


def training(kind: str = "rolling", days: int | None = 3, end_day: int = 6, **kw):
    cfg = WindowSection(kind=kind, days=days)
    return resolve_window(cfg, utc(2026, 1, end_day - 1), utc(2026, 1, end_day), purpose="training", **kw)


def load(path: str, window, fmt: str = "parquet", **kw):
    return load_window(
        LocalSource(kind="local", path=path, format=fmt),
        window,
        COLUMNS,
        timestamp_col="event_time",
        feature_types=TYPES,
        **kw,
    )


def test_current_window_reads_one_partition(churn_data: Path):
    loaded = load(TEMPLATE, current(3))
    assert len(loaded.df) == ROWS and list(loaded.df.columns) == COLUMNS
    assert loaded.partitions == [str(churn_data / "churn/dt=2026-01-03/part.parquet")]
    ts = loaded.df["event_time"]
    assert ts.min() >= pd.Timestamp("2026-01-03", tz="UTC") and ts.max() < pd.Timestamp(
        "2026-01-04", tz="UTC"
    )


def test_rolling_window_reads_each_day(churn_data: Path):
    loaded = load(TEMPLATE, training("rolling", 3, end_day=6))
    assert [Path(p).parent.name for p in loaded.partitions] == [
        "dt=2026-01-03",
        "dt=2026-01-04",
        "dt=2026-01-05",
    ]
    assert len(loaded.df) == 3 * ROWS and loaded.missing == []


def test_expanding_window_discovers_partitions(churn_data: Path):
    loaded = load(TEMPLATE, training("expanding", None, end_day=5))
    assert [Path(p).parent.name for p in loaded.partitions] == [f"dt=2026-01-0{d}" for d in range(1, 5)]
    assert len(loaded.df) == 4 * ROWS


def test_since_champion_window(churn_data: Path):
    window = training("since_champion", 30, end_day=8, champion_trained_until="2026-01-06T12:00:00+00:00")
    loaded = load(TEMPLATE, window)
    assert len(loaded.partitions) == 2  # 01-06 (afternoon rows only) and 01-07
    assert loaded.df["event_time"].min() >= pd.Timestamp("2026-01-06T12:00", tz="UTC")
    assert ROWS < len(loaded.df) < 2 * ROWS


def test_relative_path_and_strftime_template(churn_data: Path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_PROJECT_ROOT", str(churn_data.parent))
    nested = churn_data / "nested"
    for day in (2, 3):
        frame = pd.read_parquet(churn_data / f"churn/dt=2026-01-0{day}/part.parquet")
        (nested / f"2026/01/0{day}").mkdir(parents=True)
        frame.to_csv(nested / f"2026/01/0{day}/rows.csv", index=False)
    loaded = load("data/nested/{date:%Y/%m/%d}/*.csv", training("rolling", 2, end_day=4), fmt="csv")
    assert len(loaded.df) == 2 * ROWS
    assert loaded.df["event_time"].dt.tz is not None and loaded.df["autopay"].dtype == bool


def test_plain_glob_filters_rows_by_timestamp(churn_data: Path):
    loaded = load(str(churn_data / "churn/*/part.parquet"), current(4))
    assert len(loaded.partitions) == 10 and len(loaded.df) == ROWS


def test_missing_partition_in_current_window_is_named(churn_data: Path):
    (churn_data / "churn/dt=2026-01-05/part.parquet").unlink()
    with pytest.raises(DataSourceError, match=r"2026-01-05: .*dt=2026-01-05/part.parquet") as info:
        load(TEMPLATE, current(5))
    assert not isinstance(info.value, PermanentError)  # data may arrive late: retry


def test_training_window_tolerates_missing_days(churn_data: Path):
    (churn_data / "churn/dt=2026-01-04/part.parquet").unlink()
    loaded = load(TEMPLATE, training("rolling", 3, end_day=6))
    assert loaded.missing == ["2026-01-04"] and len(loaded.df) == 2 * ROWS
    with pytest.raises(DataSourceError, match="2026-01-04"):
        load(TEMPLATE, training("rolling", 3, end_day=6), allow_missing_partitions=False)


def test_window_with_no_partition_at_all(churn_data: Path):
    with pytest.raises(DataSourceError, match=r"3 of 3 partition\(s\).*missing: 2026-03-01"):
        load(
            TEMPLATE,
            resolve_window(WindowSection(days=3), utc(2026, 3, 3), utc(2026, 3, 4), purpose="training"),
        )


def test_empty_window(churn_data: Path):
    frame = pd.read_parquet(churn_data / "churn/dt=2026-01-02/part.parquet")
    frame.assign(event_time=frame["event_time"] - pd.Timedelta(days=1)).to_parquet(
        churn_data / "churn/dt=2026-01-02/part.parquet"
    )
    with pytest.raises(DataSourceError, match=r"no rows with event_time in \[2026-01-02"):
        load(TEMPLATE, current(2))


def test_missing_columns_are_listed(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    pd.read_parquet(path).drop(columns=["plan", "autopay"]).to_parquet(path)
    with pytest.raises(
        SourceSchemaError, match=r"dt=2026-01-03/part.parquet: missing column\(s\) \['plan', 'autopay'\]"
    ) as info:
        load(TEMPLATE, current(3))
    assert isinstance(info.value, PermanentError)


def test_types_coerced_when_lossless(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    frame = pd.read_parquet(path)
    frame.assign(
        tenure_months=frame["tenure_months"].astype(float),
        monthly_charges=frame["monthly_charges"].astype(str),
        autopay=frame["autopay"].astype(int),
        event_time=frame["event_time"].dt.tz_localize(None),
    ).to_parquet(path)
    df = load(TEMPLATE, current(3)).df
    assert df["tenure_months"].dtype == "int64" and df["monthly_charges"].dtype == "float64"
    assert df["autopay"].dtype == bool and str(df["event_time"].dt.tz) == "UTC"


def test_wrong_types_name_column_expected_and_found(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    frame = pd.read_parquet(path)
    frame["tenure_months"] = frame["tenure_months"] + 0.5
    frame["monthly_charges"] = "n/a"
    frame.to_parquet(path)
    with pytest.raises(SourceSchemaError) as info:
        load(TEMPLATE, current(3))
    message = str(info.value)
    assert "column 'tenure_months': expected int, found float64 (fractional values" in message
    assert "column 'monthly_charges': expected float, found object (non-numeric values ['n/a'" in message


def test_bad_timestamp_column(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    frame = pd.read_parquet(path).assign(event_time="yesterday")
    frame.to_parquet(path)
    with pytest.raises(SourceSchemaError) as info:
        load(TEMPLATE, current(3))
    assert f"{len(frame)} of {len(frame)} row(s) have no usable timestamp in column 'event_time'" in str(
        info.value
    )


def test_rows_with_unparseable_or_missing_timestamps_are_refused_with_a_count(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    frame = pd.read_parquet(path)
    stamps = frame["event_time"].astype(str).astype(object)
    stamps.iloc[:3] = ["2026-01-03 25:61", "soon", None]
    frame.assign(event_time=stamps).to_parquet(path)
    with pytest.raises(SourceSchemaError) as info:
        load(TEMPLATE, current(3))
    message = str(info.value)
    assert f"3 of {len(frame)} row(s) have no usable timestamp in column 'event_time'" in message
    assert "(2 unparseable, e.g. ['2026-01-03 25:61', 'soon']; 1 missing); they are refused" in message


def test_epoch_numbers_are_not_taken_for_timestamps(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    frame = pd.read_parquet(path)
    frame.assign(event_time=frame["event_time"].astype("int64") // 10**9).to_parquet(path)
    with pytest.raises(SourceSchemaError, match=r"holds numbers \(int64\), not timestamps"):
        load(TEMPLATE, current(3))


def test_corrupt_file_is_named(churn_data: Path):
    path = churn_data / "churn/dt=2026-01-03/part.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(CorruptPartitionError, match=r"dt=2026-01-03/part.parquet: cannot read as parquet"):
        load(TEMPLATE, current(3))


def test_glob_matching_nothing(driftline_home: Path):
    (driftline_home / "nothing").mkdir()
    with pytest.raises(DataSourceError, match=r"no file matches"):
        load(str(driftline_home / "nothing/*.parquet"), current(3))


@pytest.mark.parametrize(
    "path", ["{data_root}/no_such/dt={ds}/part.parquet", "{data_root}/no_such/*.parquet"]
)
def test_missing_root_folder_is_a_config_error_not_late_data(driftline_home: Path, path: str):
    from driftline.data.sources import SourceConfigError

    with pytest.raises(
        SourceConfigError, match=r"^data.source.path: folder '.*/data/no_such' does not exist"
    ):
        load(path, current(3))


def test_csv_day_partition(churn_data: Path):
    for day in (1, 2):
        frame = pd.read_parquet(churn_data / f"churn/dt=2026-01-0{day}/part.parquet")
        frame.to_csv(churn_data / f"churn/dt=2026-01-0{day}/part.csv", index=False)
    loaded = load("{data_root}/churn/dt={ds}/part.csv", current(2), fmt="csv")
    assert len(loaded.df) == ROWS and loaded.df["plan"].isin(["basic", "standard", "premium"]).all()


def test_unused_day_is_not_read(churn_data: Path):
    # a corrupt file outside the window must not matter
    (churn_data / "churn/dt=2026-01-09/part.parquet").write_bytes(b"junk")
    assert len(load(TEMPLATE, current(3)).df) == ROWS
