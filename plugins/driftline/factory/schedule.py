"""The pipeline's timetable: every scheduled run carries its own data interval.

Airflow 3 turns a cron string given as `schedule` into a `CronTriggerTimetable`, whose runs have
an empty data interval. Driftline scores intervals, so a config's cron or preset becomes a
`CronDataIntervalTimetable` in UTC: each run's interval runs from the previous fire time to its
own (`@hourly`: one hour; `@weekly`: one week; `0 0 * * MON-FRI`: Monday's run covers Friday
00:00 to Monday 00:00, so the weekend is scored once, by Monday's run). A manual run gets the
last whole schedule interval ending at or before its logical date (the timetable's
`infer_manual_data_interval`). `cron: null` gives no timetable (manual runs only).
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable

from driftline.config.models import ModelConfig


def pipeline_timetable(config: ModelConfig) -> CronDataIntervalTimetable | None:
    """The timetable of `driftline__<model>` (None: manual runs only)."""
    cron = config.schedule.cron
    if cron is None:
        return None
    return CronDataIntervalTimetable(cron, timezone="UTC")
