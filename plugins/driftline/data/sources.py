"""Read one time window from a model's source: local files, S3 objects, or a SQL connection.

`load_window(source_cfg, window, columns, timestamp_col=...)` is the single entry point.

Missing partitions (local and S3 templates): a day inside the window with no partition is an
error naming the day and the path when the window is the run's *current* window (the data
may still arrive: DataSourceError, retryable). *Training* windows tolerate missing days
(gaps in history are common) but record them in `LoadedWindow.missing` and in the snapshot
facts; a training window with no partition at all is still an error. Pass
`allow_missing_partitions=` to decide otherwise.

Errors: DataSourceError (retryable: missing partition, empty window, corrupt file, S3 or
database failure), SourceSchemaError / SourceConfigError (permanent: missing columns,
uncoercible types, an unknown connection id, a hook that is not a SQL hook).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config.models import LocalSource, S3Source, SqlSource
from driftline.data import templates
from driftline.data.frames import (
    CorruptPartitionError,
    SourceConfigError,
    SourceSchemaError,
    check_columns,
    coerce_types,
    filter_window,
    read_frame,
)
from driftline.exceptions import DataSourceError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.data.windows import Window

__all__ = [
    "CorruptPartitionError",
    "LoadedWindow",
    "SourceConfigError",
    "SourceSchemaError",
    "load_window",
]

log = logging.getLogger(__name__)
_CONNECTIONS_HINT = (
    "add it as an Airflow connection (UI: Admin > Connections, `airflow connections add {conn_id} ...`, "
    "or an AIRFLOW_CONN_{env} environment variable)"
)


@dataclass
class LoadedWindow:
    """The rows of one window and where they came from."""

    df: pd.DataFrame
    partitions: list[str]
    missing: list[str] = field(default_factory=list)


@dataclass
class _Partition:
    """One file or object to read, and the day it belongs to (None for an undated glob)."""

    location: str
    day: dt.date | None = None


def load_window(
    source_cfg: LocalSource | S3Source | SqlSource,
    window: Window,
    columns: list[str],
    *,
    timestamp_col: str,
    feature_types: dict[str, str] | None = None,
    allow_missing_partitions: bool | None = None,
) -> LoadedWindow:
    """Read `columns` of `source_cfg` for rows with `window.start <= timestamp_col < window.end`.

    `feature_types` (column -> int|float|bool|category|string) coerces columns losslessly or
    raises SourceSchemaError naming the column, the expected and the found type.
    """
    if timestamp_col not in columns:
        columns = [*columns, timestamp_col]
    tolerate = window.kind != "current" if allow_missing_partitions is None else allow_missing_partitions
    if isinstance(source_cfg, SqlSource):
        label = _sql_label(source_cfg)
        partitions: list[str] = [label]
        missing: list[str] = []
        df = _load_sql(source_cfg, window, columns, timestamp_col)
    else:
        lister = _LocalFiles(source_cfg) if isinstance(source_cfg, LocalSource) else _S3Objects(source_cfg)
        found, missing = _find_partitions(lister, window, tolerate)
        frames = []
        for part in found:
            frame = read_frame(lister.read(part.location), source_cfg.format, columns, part.location)
            frames.append(filter_window(frame, timestamp_col, window, part.location))
        import pandas as pd

        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        partitions = [p.location for p in found]
        label = lister.describe()
    if df.empty:
        raise DataSourceError(
            f"{label}: no rows with {timestamp_col} in {_span(window)} "
            f"(read {len(partitions)} partition(s): {_preview(partitions)}); the data may not have arrived yet"
        )
    if feature_types:
        df = coerce_types(df, feature_types, label)
    return LoadedWindow(df=df[columns], partitions=partitions, missing=missing)


def _span(window: Window) -> str:
    start = window.start.isoformat() if window.start else "-inf"
    return f"[{start}, {window.end.isoformat()})"


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


# --- files and objects ----------------------------------------------------------------------


def _find_partitions(
    lister: _Lister, window: Window, tolerate_missing: bool
) -> tuple[list[_Partition], list[str]]:
    """The partitions a window needs, and the days (ISO) that have none."""
    template = lister.template
    if not templates.is_dated(template):
        found = [_Partition(loc) for loc in lister.glob(template)]
        if not found:
            raise DataSourceError(f"{lister.describe()}: no file matches {template!r}")
        return found, []
    if window.start is None:  # expanding: whatever partitions exist up to the end
        parse = templates.date_parser(template)
        found = []
        for loc in lister.glob(templates.to_glob(template)):
            day = parse(loc)
            if day is not None and window.contains_day(day):
                found.append(_Partition(loc, day))
        if not found:
            raise DataSourceError(
                f"{lister.describe()}: no partition matching {template!r} before {window.end.isoformat()}"
            )
        return sorted(found, key=lambda p: (p.day, p.location)), []
    found, missing, missing_paths = [], [], []
    for day in window.day_list():
        path = templates.render_day(template, day)
        matches = lister.glob(path) if templates.has_glob(path) else ([path] if lister.exists(path) else [])
        if not matches:
            missing.append(day.isoformat())
            missing_paths.append(path)
        found.extend(_Partition(loc, day) for loc in matches)
    if missing and (not tolerate_missing or not found):
        detail = "; ".join(f"{d}: {p}" for d, p in zip(missing, missing_paths, strict=True))
        raise DataSourceError(
            f"{lister.describe()}: {len(missing)} of {len(window.day_list())} partition(s) of window "
            f"{_span(window)} missing: {detail}"
        )
    if missing:
        log.warning(
            "%s: training window tolerates %d missing day(s): %s", lister.describe(), len(missing), missing
        )
    return found, missing


class _Lister:
    template: str

    def describe(self) -> str:
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        raise NotImplementedError

    def exists(self, location: str) -> bool:
        raise NotImplementedError

    def read(self, location: str) -> bytes | Path:
        raise NotImplementedError


class _LocalFiles(_Lister):
    """Local or mounted files; relative paths start at settings.project_root()."""

    def __init__(self, cfg: LocalSource) -> None:
        from driftline.settings import project_root

        templates.check_template(cfg.path, "data.source.path")
        path = templates.render_roots(cfg.path)
        if not Path(path).is_absolute():
            path = str(project_root() / path)
        self.template = path
        self.raw = cfg.path

    def describe(self) -> str:
        return f"local source {self.raw!r}"

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in glob.glob(pattern) if Path(p).is_file())

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def read(self, location: str) -> Path:
        return Path(location)


class _S3Objects(_Lister):
    """S3 objects read through the Amazon provider's S3Hook and an Airflow connection."""

    def __init__(self, cfg: S3Source) -> None:
        templates.check_template(cfg.uri, "data.source.uri")
        bucket, _, key = templates.render_roots(cfg.uri).removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.template = key
        self.cfg = cfg
        self._hook: Any = None

    @property
    def hook(self) -> Any:
        if self._hook is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            # aws_default may be absent on purpose: the AWS hook then uses the environment's credentials.
            if self.cfg.conn_id != "aws_default":
                _get_connection(self.cfg.conn_id, "data.source.conn_id")
            self._hook = S3Hook(aws_conn_id=self.cfg.conn_id)
        return self._hook

    def describe(self) -> str:
        return f"s3 source {self.cfg.uri!r} (connection {self.cfg.conn_id!r})"

    def _list(self, prefix: str) -> list[str]:
        try:
            return list(self.hook.list_keys(bucket_name=self.bucket, prefix=prefix) or [])
        except DataSourceError:
            raise
        except Exception as exc:
            raise DataSourceError(
                f"{self.describe()}: cannot list s3://{self.bucket}/{prefix}: {exc}"
            ) from exc

    def glob(self, pattern: str) -> list[str]:
        keys = self._list(templates.literal_prefix(pattern))
        return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern) and not k.endswith("/"))

    def exists(self, location: str) -> bool:
        return location in self._list(location)

    def read(self, location: str) -> bytes:
        try:
            body: bytes = self.hook.get_key(location, bucket_name=self.bucket).get()["Body"].read()
            return body
        except Exception as exc:
            raise DataSourceError(
                f"{self.describe()}: cannot read s3://{self.bucket}/{location}: {exc}"
            ) from exc


# --- SQL ------------------------------------------------------------------------------------

_BIND = re.compile(r"(?<![:\w]):(window_start|window_end)\b")
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def _sql_label(cfg: SqlSource) -> str:
    return f"sql source {cfg.table or 'query'!r} (connection {cfg.conn_id!r})"


def _get_connection(conn_id: str, field_name: str) -> Any:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        hint = _CONNECTIONS_HINT.format(conn_id=conn_id, env=re.sub(r"\W", "_", conn_id).upper())
        raise SourceConfigError(
            f"{field_name}: Airflow connection {conn_id!r} does not exist: {hint}"
        ) from exc


def sql_hook(conn_id: str) -> Any:
    """The common-sql hook of an Airflow connection (DbApiHook)."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    conn = _get_connection(conn_id, "data.source.conn_id")
    try:
        hook = conn.get_hook()
    except Exception as exc:
        raise SourceConfigError(
            f"connection {conn_id!r} (type {conn.conn_type!r}) has no usable hook: {exc}; "
            "install the Airflow provider for this connection type"
        ) from exc
    if not isinstance(hook, DbApiHook):
        raise SourceConfigError(
            f"connection {conn_id!r} (type {conn.conn_type!r}) is not a SQL connection: "
            f"{type(hook).__name__} is not a common-sql DbApiHook"
        )
    return hook


def quote_identifier(hook: Any, name: str) -> str:
    """Quote a (dotted) identifier with the hook's escape format, refusing embedded quote characters."""
    fmt = getattr(hook, "escape_word_format", '"{}"') or '"{}"'
    quotes = set(fmt.replace("{}", ""))
    parts = name.split(".")
    for part in parts:
        if not part or quotes & set(part) or "\x00" in part:
            raise SourceConfigError(f"cannot quote SQL identifier {name!r} safely")
    return ".".join(fmt.format(part) for part in parts)


def _bind_value(hook: Any, value: dt.datetime) -> Any:
    value = value.astimezone(dt.UTC)
    if getattr(hook, "conn_type", "") == "sqlite" or _dialect(hook) == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S")  # SQLite compares timestamps as ISO text
    return value


def _dialect(hook: Any) -> str:
    try:
        return str(hook.dialect_name)
    except Exception:
        return ""


def build_query(
    cfg: SqlSource, hook: Any, window: Window, columns: list[str], timestamp_col: str
) -> tuple[str, list[Any]]:
    """The SQL text with the hook's placeholders and its positional parameters."""
    placeholder = getattr(hook, "placeholder", "%s")
    if cfg.table is not None:
        selected = ", ".join(quote_identifier(hook, c) for c in columns)
        ts = quote_identifier(hook, timestamp_col)
        where, params = [f"{ts} < {placeholder}"], [_bind_value(hook, window.end)]
        if window.start is not None:
            where.insert(0, f"{ts} >= {placeholder}")
            params.insert(0, _bind_value(hook, window.start))
        return (
            f"SELECT {selected} FROM {quote_identifier(hook, cfg.table)} WHERE {' AND '.join(where)}",
            params,
        )
    values = {"window_start": window.start or _EARLIEST, "window_end": window.end}
    order = _BIND.findall(cfg.query or "")
    if not order:
        log.warning(
            "%s: the query has no :window_start/:window_end; rows are filtered after reading", _sql_label(cfg)
        )
    return _BIND.sub(placeholder, cfg.query or ""), [_bind_value(hook, values[name]) for name in order]


def _load_sql(cfg: SqlSource, window: Window, columns: list[str], timestamp_col: str) -> pd.DataFrame:
    hook = sql_hook(cfg.conn_id)
    label = _sql_label(cfg)
    if cfg.table is not None:  # check first: SQLite reads an unknown "column" as a string literal
        _check_table_columns(hook, cfg, columns, label)
    sql, params = build_query(cfg, hook, window, columns, timestamp_col)
    try:
        df = hook.get_df(sql, parameters=params, df_type="pandas")
    except Exception as exc:
        raise DataSourceError(f"{label}: query failed: {exc}\n  SQL: {sql}") from exc
    check_columns(df, columns, label)
    return filter_window(df[columns], timestamp_col, window, label)


def _check_table_columns(hook: Any, cfg: SqlSource, columns: list[str], label: str) -> None:
    """Name the table's missing columns before selecting them."""
    probe_sql = f"SELECT * FROM {quote_identifier(hook, cfg.table or '')} WHERE 1 = 0"
    try:
        probe = hook.get_df(probe_sql, df_type="pandas")
    except Exception as exc:
        raise DataSourceError(f"{label}: cannot read table {cfg.table!r}: {exc}") from exc
    present = {str(c) for c in probe.columns}
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceSchemaError(
            f"{label}: table {cfg.table!r} has no column(s) {missing}; it has {sorted(present)}"
        )
