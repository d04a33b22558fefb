"""Every schedule gives each run its own data interval, and load_current reads exactly that interval.

Runs are created through the DAG's own timetable (the scheduler's view of it, via
`coerce_to_core_timetable`), never from hand-made intervals; each run's interval goes through
`run_interval` -> `resolve_window` -> `load_window`, the code load_current runs, over real files.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from airflow.serialization.serialized_objects import coerce_to_core_timetable
from airflow.timetables.base import DataInterval, TimeRestriction
from driftline.config.models import ModelConfig
from driftline.data.sources import load_window
from driftline.data.windows import resolve_window
from driftline.factory.dags import build_pipeline_dag
from driftline.operators.base import run_interval

UTC = dt.UTC
START = dt.date(2026, 1, 1)  # a Thursday
DAILY = "dt={ds}/part.parquet"
HOURLY = "{ts:%Y-%m-%d/%H}/part.parquet"


def config(tmp_path: Path, cron: str | None, template: str) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "model": {"name": "sched"},
            "schedule": {"cron": cron, "start_date": START.isoformat(), "catchup": True},
            "data": {
                "source": {"kind": "local", "path": f"{tmp_path}/{template}"},
                "entity_id": "id",
                "timestamp": "ts",
                "label": "y",
                "features": [{"name": "x", "type": "float"}],
            },
            "training": {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"}},
        }
    )


def write_partitions(tmp_path: Path, template: str, days: int = 21) -> None:
    """One row every 30 minutes from START for `days` days, in daily or hourly partitions."""
    stamps = pd.date_range(pd.Timestamp(START, tz="UTC"), periods=days * 48, freq="30min")
    df = pd.DataFrame({"id": range(len(stamps)), "ts": stamps, "x": 1.0, "y": 0})
    key = df.ts.dt.strftime("%Y-%m-%d" if template == DAILY else "%Y-%m-%d/%H")
    for part, rows in df.groupby(key):
        path = tmp_path / (f"dt={part}" if template == DAILY else part) / "part.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(path, index=False)


def scheduled_runs(dag, count: int) -> list[DataInterval]:
    """The first `count` runs the scheduler would create, from the DAG's own timetable."""
    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 1, 1, tz="UTC"), latest=None, catchup=True)
    runs, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        assert info is not None and info.data_interval is not None
        runs.append(info.data_interval)
        last = info.data_interval
    return runs


def reads(
    cfg: ModelConfig, dag, interval: DataInterval
) -> tuple[tuple[dt.datetime, dt.datetime], list[str], pd.Series]:
    """What load_current reads for a run with `interval`: (its window, partitions, timestamps)."""
    context = {
        "data_interval_start": interval.start,
        "data_interval_end": interval.end,
        "logical_date": interval.start,
        "task": dag.get_task("load_current"),
    }
    start, end = run_interval(context)
    window = resolve_window(cfg.data.window, start, end, purpose="current")
    loaded = load_window(cfg.data.source, window, cfg.columns, timestamp_col="ts")
    prefix = cfg.data.source.path.split("{")[0].rsplit("/", 1)[0] + "/"
    parts = [p.removeprefix(prefix).removesuffix("/part.parquet") for p in loaded.partitions]
    return (start, end), parts, loaded.df.ts


def t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


def assert_tiles(runs: list[DataInterval]) -> None:
    """Consecutive runs' intervals meet end to start: every instant is scored exactly once."""
    for before, after in itertools.pairwise(runs):
        assert before.end == after.start


def test_daily(tmp_path):
    write_partitions(tmp_path, DAILY)
    cfg = config(tmp_path, "@daily", DAILY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    runs = scheduled_runs(dag, 3)
    assert_tiles(runs)
    window, parts, ts = reads(cfg, dag, runs[1])
    assert window == (t(2), t(3))
    assert parts == ["dt=2026-01-02"]
    assert ts.min() == pd.Timestamp(t(2)) and ts.max() < pd.Timestamp(t(3)) and len(ts) == 48


def test_hourly_reads_hourly_partitions(tmp_path):
    write_partitions(tmp_path, HOURLY)
    cfg = config(tmp_path, "@hourly", HOURLY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    runs = scheduled_runs(dag, 26)
    assert_tiles(runs)
    assert [r.start for r in runs[:2]] == [t(1, 0), t(1, 1)]
    window, parts, ts = reads(cfg, dag, runs[25])  # the second day's 01:00-02:00
    assert window == (t(2, 1), t(2, 2))
    assert parts == ["2026-01-02/01"]
    assert list(ts) == [pd.Timestamp(t(2, 1)), pd.Timestamp(t(2, 1)) + pd.Timedelta(minutes=30)]


def test_weekly_reads_the_whole_week(tmp_path):
    write_partitions(tmp_path, DAILY)
    cfg = config(tmp_path, "@weekly", DAILY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    runs = scheduled_runs(dag, 2)
    assert_tiles(runs)
    window, parts, ts = reads(cfg, dag, runs[1])  # @weekly fires on Sundays at 00:00
    assert window == (t(11), t(18))
    assert parts == [f"dt=2026-01-{d:02d}" for d in range(11, 18)]
    assert len(ts) == 7 * 48


def test_weekday_cron_covers_the_weekend_once(tmp_path):
    write_partitions(tmp_path, DAILY)
    cfg = config(tmp_path, "0 0 * * MON-FRI", DAILY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    runs = scheduled_runs(dag, 6)
    assert_tiles(runs)
    intervals = [(r.start, r.end) for r in runs]
    # 2026-01-02 is a Friday; Monday 2026-01-05 00:00's run covers Friday, Saturday and Sunday
    assert (t(2), t(5)) in intervals
    window, parts, ts = reads(cfg, dag, runs[intervals.index((t(2), t(5)))])
    assert window == (t(2), t(5))
    assert parts == ["dt=2026-01-02", "dt=2026-01-03", "dt=2026-01-04"]
    assert len(ts) == 3 * 48


def test_weekday_cron_at_three_on_hourly_partitions(tmp_path):
    write_partitions(tmp_path, HOURLY)
    cfg = config(tmp_path, "0 3 * * MON-FRI", HOURLY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    runs = scheduled_runs(dag, 4)
    assert_tiles(runs)
    friday_to_monday = next(r for r in runs if r.start == t(2, 3))
    assert friday_to_monday.end == t(5, 3)
    window, parts, ts = reads(cfg, dag, friday_to_monday)
    assert window == (t(2, 3), t(5, 3))
    assert len(parts) == 72 and parts[0] == "2026-01-02/03" and parts[-1] == "2026-01-05/02"
    assert len(ts) == 72 * 2


@pytest.mark.parametrize(
    ("cron", "template", "logical", "expected"),
    [
        ("@daily", DAILY, t(16, 0), (t(15), t(16))),
        ("@daily", DAILY, t(16, 10), (t(15), t(16))),
        ("@hourly", HOURLY, t(16, 10) + dt.timedelta(minutes=37), (t(16, 9), t(16, 10))),
        ("@weekly", DAILY, t(16), (t(4), t(11))),
        ("0 0 * * MON-FRI", DAILY, t(11, 12), (t(8), t(9))),  # a Sunday: Friday's interval
    ],
)
def test_manual_runs_score_the_last_whole_schedule_interval(tmp_path, cron, template, logical, expected):
    """A manual run's interval is Airflow's inference from the timetable; run_interval keeps it."""
    dag = build_pipeline_dag(config(tmp_path, cron, template), tmp_path / "sched.yaml")
    inferred = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(
        run_after=pendulum.instance(logical)
    )
    context = {
        "data_interval_start": inferred.start,
        "data_interval_end": inferred.end,
        "task": dag.get_task("load_current"),
    }
    assert run_interval(context) == expected
    # the same rule without an interval from Airflow (a run without a logical date, a cron-less DAG)
    empty = {"data_interval_start": None, "data_interval_end": None, "logical_date": logical}
    assert run_interval(empty, cron) == expected


def test_manual_only_dag_scores_the_last_whole_utc_day(tmp_path):
    cfg = config(tmp_path, None, DAILY)
    dag = build_pipeline_dag(cfg, tmp_path / "sched.yaml")
    assert type(dag.timetable).__name__ == "NullTimetable"
    inferred = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(
        run_after=pendulum.instance(t(16, 10))
    )
    context = {
        "data_interval_start": inferred.start,
        "data_interval_end": inferred.end,
        "logical_date": t(16, 10),
        "task": dag.get_task("load_current"),
    }
    assert run_interval(context) == (t(15), t(16))
