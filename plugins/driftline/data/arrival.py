"""Has a window's data arrived? The check behind the data-arrival sensors and triggers.

`check_arrival(source_cfg, window, ...)` looks without reading the data:

- local files and S3 objects with a date template: one partition per day (or hour, minute)
  of the window; one with no matching file or key is missing (named with its path). An undated glob or
  prefix has arrived when anything matches it.
- SQL: with `freshness_query`, its one timestamp must be at or after the window's end; else a
  table must have rows on every day of the window, a query must return a row for the window.

A source whose root does not exist (the folder above the first placeholder, the bucket, the
connection, the table) raises SourceConfigError (permanent): it is a configuration error,
not late data. Other read failures raise DataSourceError (the caller may poll again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from driftline.config.models import LocalSource, S3Source, SqlSource
from driftline.data import templates
from driftline.data.access import SourceAccess, require
from driftline.data.sources import (
    bind_value,
    build_query,
    check_table,
    lister_for,
    quote_identifier,
    sql_label,
)
from driftline.data.windows import Window
from driftline.exceptions import DataSourceError

Source = LocalSource | S3Source | SqlSource


@dataclass(frozen=True)
class Arrival:
    """What a check found: `missing` names each absent day (or what is absent) and where."""

    source: str
    window_start: str
    window_end: str
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def arrived(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "found": list(self.found),
            "missing": list(self.missing),
            "arrived": self.arrived,
        }


def check_arrival(
    cfg: Source,
    window: Window,
    *,
    timestamp_col: str,
    field: str = "data.source",
    freshness_query: str | None = None,
    access: SourceAccess | None = None,
) -> Arrival:
    """Check once whether the data of `window` is there (see the module docstring).

    `access` reaches S3 and SQL sources (see driftline.data.access)."""
    if window.start is None:
        raise ValueError("only a bounded window (a run's current window) can be waited for")
    if isinstance(cfg, SqlSource):
        return _check_sql(cfg, window, timestamp_col, field, freshness_query, access)
    lister = lister_for(cfg, field, access)
    lister.check_root()
    span = (window.start.isoformat(), window.end.isoformat())
    template = lister.template
    if not templates.is_dated(template):
        matches = lister.glob(template)
        absent = [] if matches else [f"no file matches {template}"]
        return Arrival(lister.describe(), *span, found=matches[:20], missing=absent)
    found: list[str] = []
    missing: list[str] = []
    step = templates.STEPS[templates.granularity(template) or "day"]
    for start in window.partition_starts(step):  # days, or hours/minutes for {ts:...} templates
        path = templates.render_at(template, start)
        matches = lister.glob(path) if templates.has_glob(path) else ([path] if lister.exists(path) else [])
        if matches:
            found.extend(matches)
        else:
            when = start.date().isoformat() if step == templates.STEPS["day"] else start.isoformat()
            missing.append(f"{when}: {_where(cfg, lister, path)}")
    return Arrival(lister.describe(), *span, found=found, missing=missing)


def _where(cfg: Source, lister: Any, path: str) -> str:
    return f"s3://{lister.bucket}/{path}" if isinstance(cfg, S3Source) else path


def _check_sql(
    cfg: SqlSource,
    window: Window,
    timestamp_col: str,
    field: str,
    freshness_query: str | None,
    access: SourceAccess | None,
) -> Arrival:
    # an unknown connection: SourceConfigError
    hook = require(access, field, "sql").sql(cfg.conn_id, f"{field}.conn_id")
    check_table(hook, cfg, field)  # a missing table: SourceConfigError
    label = sql_label(cfg)
    assert window.start is not None  # noqa: S101 - narrows the type: check_arrival refused a window without a start
    span = (window.start.isoformat(), window.end.isoformat())
    if freshness_query is not None:
        value = _scalar(hook, freshness_query, [], label)
        latest = _as_utc(value, label)
        if latest is not None and latest >= window.end:
            return Arrival(label, *span, found=[f"freshness {latest.isoformat()}"])
        seen = latest.isoformat() if latest is not None else "no value"
        return Arrival(
            label,
            *span,
            missing=[f"freshness query returned {seen}, waiting for >= {window.end.isoformat()}"],
        )
    if cfg.table is None:  # a query source: does it return any row for the window?
        sql, params = build_query(cfg, hook, window, [timestamp_col], timestamp_col)
        count = _scalar(hook, f"SELECT COUNT(*) FROM ({sql}) driftline_arrival", params, label)  # noqa: S608 - sql is build_query's: identifiers quoted, window bounds bound as parameters
        missing = [] if count else [f"the query returns no row for [{span[0]}, {span[1]})"]
        return Arrival(label, *span, found=[f"{count} row(s)"] if count else [], missing=missing)
    placeholder = getattr(hook, "placeholder", "%s") or "%s"
    ts = quote_identifier(hook, timestamp_col)
    table = quote_identifier(hook, cfg.table)
    found, missing = [], []
    for day in window.day_list():
        lo = max(window.start, dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
        hi = min(window.end, lo.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1))
        sql = f"SELECT COUNT(*) FROM {table} WHERE {ts} >= {placeholder} AND {ts} < {placeholder}"  # noqa: S608 - table and column quoted by quote_identifier; the bounds are bound parameters
        count = _scalar(hook, sql, [bind_value(hook, lo), bind_value(hook, hi)], label)
        if count:
            found.append(f"{day.isoformat()}: {count} row(s)")
        else:
            missing.append(f"{day.isoformat()}: no rows in {cfg.table} with {timestamp_col} in that day")
    return Arrival(label, *span, found=found, missing=missing)


def _scalar(hook: Any, sql: str, params: list[Any], label: str) -> Any:
    try:
        row = hook.get_first(sql, parameters=params or None)
    except Exception as exc:
        raise DataSourceError(f"{label}: arrival check failed: {exc}\n  SQL: {sql}") from exc
    return row[0] if row else None


def _as_utc(value: Any, label: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise DataSourceError(
            f"{label}: data.wait.freshness_query returned {value!r}, not a timestamp"
        ) from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
