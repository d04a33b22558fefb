"""Read one time window from a model's source: local files, S3 objects, or a SQL connection.

`load_window(source_cfg, window, columns, timestamp_col=..., access=...)` is the single entry
point. S3 and SQL sources are reached through `access` (a `driftline.data.access.SourceAccess`:
in Airflow, `driftline.hooks.sources.AirflowSourceAccess`); this module imports no Airflow.

Missing partitions (local and S3 templates): a day inside the window with no partition is an
error naming the day and the path when the window is the run's *current* window (the data
may still arrive: DataSourceError, retryable). *Training* windows tolerate missing days
(gaps in history are common) but record them in `LoadedWindow.missing` and in the snapshot
facts; a training window with no partition at all is still an error. Pass
`allow_missing_partitions=` to decide otherwise.

Errors: NothingArrivedError (retryable; the source was read but has nothing for the window
yet: a missing partition under an existing root, no matching file, no rows), DataSourceError
(retryable: the source could not be read: a corrupt file, an S3 or database failure),
SourceSchemaError / SourceConfigError (permanent: missing columns, uncoercible types,
unparseable timestamps, an unknown connection id, a hook that is not a SQL hook, and a source
whose root does not exist: the folder above the first placeholder, the bucket, the table).
Only a missing partition under an existing root is late data (see driftline.data.arrival).
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
from driftline.data.access import SourceAccess, require
from driftline.data.frames import (
    CorruptPartitionError,
    NothingArrivedError,
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
    "NothingArrivedError",
    "SourceConfigError",
    "SourceSchemaError",
    "check_root",
    "lister_for",
    "load_window",
]

log = logging.getLogger(__name__)


@dataclass
class LoadedWindow:
    """The rows of one window and where they came from."""

    df: pd.DataFrame
    partitions: list[str]
    missing: list[str] = field(default_factory=list)


@dataclass
class _Partition:
    """One file or object to read, and the day / partition start it belongs to (None for an undated glob)."""

    location: str
    day: dt.date | None = None
    start: dt.datetime | None = None


def load_window(
    source_cfg: LocalSource | S3Source | SqlSource,
    window: Window,
    columns: list[str],
    *,
    timestamp_col: str,
    feature_types: dict[str, str] | None = None,
    allow_missing_partitions: bool | None = None,
    field: str = "data.source",
    access: SourceAccess | None = None,
) -> LoadedWindow:
    """Read `columns` of `source_cfg` for rows with `window.start <= timestamp_col < window.end`.

    `feature_types` (column -> int|float|bool|category|string) coerces columns losslessly or
    raises SourceSchemaError naming the column, the expected and the found type. `field` is
    the config field of the source (`data.source` or `data.labels`), named in config errors.
    `access` reaches S3 and SQL sources (see driftline.data.access).
    """
    if timestamp_col not in columns:
        columns = [*columns, timestamp_col]
    tolerate = window.kind != "current" if allow_missing_partitions is None else allow_missing_partitions
    if isinstance(source_cfg, SqlSource):
        label = sql_label(source_cfg)
        df = _load_sql(source_cfg, window, columns, timestamp_col, field, access)
        partitions: list[str] = [label]
        missing: list[str] = []
    else:
        lister = lister_for(source_cfg, field, access)
        lister.check_root()
        found, missing = find_partitions(lister, window, tolerate)
        frames = []
        for part in found:
            frame = read_frame(
                lister.read(part.location),
                source_cfg.format,
                columns,
                part.location,
                source_cfg.encoding,
                field,
            )
            kept = filter_window(frame, timestamp_col, window, part.location)
            if part.start is not None and len(kept) < len(frame):
                log.warning(
                    "%s: %d of %d row(s) have a %s outside the window %s and are not read: a dated "
                    "partition should hold its own interval's rows (rows of another day written under "
                    "this one are read by no run)",
                    part.location,
                    len(frame) - len(kept),
                    len(frame),
                    timestamp_col,
                    _span(window),
                )
            frames.append(kept)
        import pandas as pd

        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        partitions = [p.location for p in found]
        label = lister.describe()
    if df.empty:
        raise NothingArrivedError(
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


def find_partitions(
    lister: _Lister, window: Window, tolerate_missing: bool
) -> tuple[list[_Partition], list[str]]:
    """The partitions a window needs, and the days (ISO) that have none."""
    template = lister.template
    if not templates.is_dated(template):
        found = [_Partition(loc) for loc in lister.glob(template)]
        if not found:
            raise NothingArrivedError(f"{lister.describe()}: no file matches {template!r}")
        return found, []
    step = templates.STEPS[templates.granularity(template) or "day"]
    if window.start is None:  # expanding: whatever partitions exist up to the end
        parse = templates.time_parser(template)
        found = []
        for loc in lister.glob(templates.to_glob(template)):
            when = parse(loc)
            if when is not None and window.overlaps(when, step):
                found.append(_Partition(loc, when.date(), when))
        if not found:
            raise NothingArrivedError(
                f"{lister.describe()}: no partition matching {template!r} before {window.end.isoformat()}"
            )
        return sorted(found, key=lambda p: (p.start, p.location)), []
    found, missing, missing_paths = [], [], []
    starts = window.partition_starts(step)
    for start in starts:
        path = templates.render_at(template, start)
        matches = lister.glob(path) if templates.has_glob(path) else ([path] if lister.exists(path) else [])
        if not matches:
            missing.append(start.date().isoformat() if step == templates.STEPS["day"] else start.isoformat())
            missing_paths.append(path)
        found.extend(_Partition(loc, start.date(), start) for loc in matches)
    if missing and (not tolerate_missing or not found):
        detail = "; ".join(f"{d}: {p}" for d, p in zip(missing, missing_paths, strict=True))
        raise NothingArrivedError(
            f"{lister.describe()}: {len(missing)} of {len(starts)} partition(s) of window "
            f"{_span(window)} missing: {detail}"
        )
    if missing:
        log.warning(
            "%s: training window tolerates %d missing partition(s): %s",
            lister.describe(),
            len(missing),
            missing,
        )
    return found, missing


def lister_for(
    cfg: LocalSource | S3Source, field: str = "data.source", access: SourceAccess | None = None
) -> _Lister:
    """The file or object lister of a local or S3 source."""
    if isinstance(cfg, LocalSource):
        return _LocalFiles(cfg, field)
    return _S3Objects(cfg, field, require(access, field, "s3"))


def check_root(
    cfg: LocalSource | S3Source | SqlSource, field: str = "data.source", access: SourceAccess | None = None
) -> None:
    """Raise SourceConfigError (permanent) when the source's root does not exist.

    The root is the folder above the path's first placeholder or glob, the S3 bucket, or the
    SQL connection and table. A missing root is a configuration error, not late data.
    """
    if isinstance(cfg, SqlSource):
        hook = require(access, field, "sql").sql(cfg.conn_id, f"{field}.conn_id")
        if cfg.table is not None:
            check_table(hook, cfg, field)
        return
    lister_for(cfg, field, access).check_root()


class _Lister:
    template: str

    def describe(self) -> str:
        raise NotImplementedError

    def check_root(self) -> None:
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        raise NotImplementedError

    def exists(self, location: str) -> bool:
        raise NotImplementedError

    def read(self, location: str) -> bytes | Path:
        raise NotImplementedError


class _LocalFiles(_Lister):
    """Local or mounted files; relative paths start at settings.project_root()."""

    def __init__(self, cfg: LocalSource, field: str = "data.source") -> None:
        from driftline.settings import project_root

        templates.check_template(cfg.path, f"{field}.path")
        self.field = field
        path = templates.render_roots(cfg.path)
        if not Path(path).is_absolute():
            path = str(project_root() / path)
        self.template = path
        self.raw = cfg.path

    def describe(self) -> str:
        return f"local source {self.raw!r}"

    def root(self) -> Path:
        """The deepest folder of the path that holds no placeholder or glob."""
        prefix = templates.literal_prefix(self.template)
        return Path(prefix) if prefix.endswith("/") else Path(prefix).parent

    def check_root(self) -> None:
        root = self.root()
        if not root.is_dir():
            raise SourceConfigError(
                f"{self.field}.path: folder {str(root)!r} does not exist ({self.raw!r} is read under it): "
                "fix the path, or create the folder where the data will arrive"
            )

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in glob.glob(pattern) if Path(p).is_file())

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def read(self, location: str) -> Path:
        return Path(location)


class _S3Objects(_Lister):
    """S3 objects read through the filesystem `access` gives for the source's connection."""

    def __init__(self, cfg: S3Source, field: str, access: SourceAccess) -> None:
        templates.check_template(cfg.uri, f"{field}.uri")
        self.field = field
        bucket, _, key = templates.render_roots(cfg.uri).removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.template = key
        self.cfg = cfg
        self.access = access
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        """The bucket's fsspec filesystem, with the connection's credentials and endpoint."""
        if self._fs is None:
            self._fs = self.access.s3_filesystem(self.bucket, self.cfg.conn_id, f"{self.field}.conn_id")
        return self._fs

    def describe(self) -> str:
        return f"s3 source {self.cfg.uri!r} (connection {self.cfg.conn_id!r})"

    def check_root(self) -> None:
        """The bucket must exist: a missing bucket or no access to it is a config error."""
        try:
            self.fs.info(self.bucket, refresh=True)  # HeadBucket
        except FileNotFoundError as exc:
            raise SourceConfigError(
                f"{self.field}.uri: bucket {self.bucket!r} does not exist "
                f"(connection {self.cfg.conn_id!r}, {self.cfg.uri!r})"
            ) from exc
        except PermissionError as exc:
            raise SourceConfigError(
                f"{self.field}.uri: connection {self.cfg.conn_id!r} may not read bucket {self.bucket!r} "
                f"({exc}): grant s3:ListBucket or use another connection ({self.field}.conn_id)"
            ) from exc
        except DataSourceError:
            raise
        except Exception as exc:
            raise DataSourceError(f"{self.describe()}: cannot reach bucket {self.bucket!r}: {exc}") from exc

    def _list(self, prefix: str) -> list[str]:
        folder, _, start = prefix.rpartition("/")
        base = f"{self.bucket}/{folder}".rstrip("/")
        try:
            self.fs.invalidate_cache(base)  # objects arrive while a worker lives: never list from cache
            found = self.fs.find(base, prefix=start) if start else self.fs.find(base)
        except FileNotFoundError:
            return []
        except DataSourceError:
            raise
        except Exception as exc:
            raise DataSourceError(
                f"{self.describe()}: cannot list s3://{self.bucket}/{prefix}: {exc}"
            ) from exc
        return [str(p).removeprefix(f"{self.bucket}/") for p in found]

    def glob(self, pattern: str) -> list[str]:
        keys = self._list(templates.literal_prefix(pattern))
        return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern) and not k.endswith("/"))

    def exists(self, location: str) -> bool:
        return location in self._list(location)

    def read(self, location: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(f"{self.bucket}/{location}"))
        except Exception as exc:
            raise DataSourceError(
                f"{self.describe()}: cannot read s3://{self.bucket}/{location}: {exc}"
            ) from exc


# --- SQL ------------------------------------------------------------------------------------

_BIND = re.compile(r"(?<![:\w]):(window_start|window_end)\b")
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def sql_label(cfg: SqlSource) -> str:
    return f"sql source {cfg.table or 'query'!r} (connection {cfg.conn_id!r})"


def quote_identifier(hook: Any, name: str) -> str:
    """Quote a (dotted) identifier with the hook's escape format, refusing embedded quote characters."""
    fmt = getattr(hook, "escape_word_format", '"{}"') or '"{}"'
    quotes = set(fmt.replace("{}", ""))
    parts = name.split(".")
    for part in parts:
        if not part or quotes & set(part) or "\x00" in part:
            raise SourceConfigError(f"cannot quote SQL identifier {name!r} safely")
    return ".".join(fmt.format(part) for part in parts)


def bind_value(hook: Any, value: dt.datetime) -> Any:
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
        where, params = [f"{ts} < {placeholder}"], [bind_value(hook, window.end)]
        if window.start is not None:
            where.insert(0, f"{ts} >= {placeholder}")
            params.insert(0, bind_value(hook, window.start))
        return (
            f"SELECT {selected} FROM {quote_identifier(hook, cfg.table)} WHERE {' AND '.join(where)}",  # noqa: S608 - identifiers quoted by quote_identifier; the window bounds are bound parameters
            params,
        )
    values = {"window_start": window.start or _EARLIEST, "window_end": window.end}
    order = _BIND.findall(cfg.query or "")
    if not order:
        log.warning(
            "%s: the query has no :window_start/:window_end; rows are filtered after reading", sql_label(cfg)
        )
    return _BIND.sub(placeholder, cfg.query or ""), [bind_value(hook, values[name]) for name in order]


def _load_sql(
    cfg: SqlSource,
    window: Window,
    columns: list[str],
    timestamp_col: str,
    field: str = "data.source",
    access: SourceAccess | None = None,
) -> pd.DataFrame:
    hook = require(access, field, "sql").sql(cfg.conn_id, f"{field}.conn_id")
    label = sql_label(cfg)
    if cfg.table is not None:  # check first: SQLite reads an unknown "column" as a string literal
        check_table(hook, cfg, field)
        _check_table_columns(hook, cfg, columns, label)
    sql, params = build_query(cfg, hook, window, columns, timestamp_col)
    try:
        df = hook.get_df(sql, parameters=params, df_type="pandas")
    except Exception as exc:
        raise DataSourceError(f"{label}: query failed: {exc}\n  SQL: {sql}") from exc
    check_columns(df, columns, label)
    return filter_window(df[columns], timestamp_col, window, label)


def check_table(hook: Any, cfg: SqlSource, field: str = "data.source") -> None:
    """SourceConfigError when the connection's database has no table `cfg.table`.

    Asked through SQLAlchemy's inspector; a database without an SQLAlchemy dialect is not
    checked here (the query then fails as a retryable read error).
    """
    if cfg.table is None:
        return
    try:
        from sqlalchemy import inspect

        inspector = inspect(hook.get_sqlalchemy_engine())
    except Exception as exc:
        log.debug("%s: cannot inspect the database (%s); table not checked", sql_label(cfg), exc)
        return
    schema, _, name = cfg.table.rpartition(".")
    try:
        exists = inspector.has_table(name, schema=schema or None)
    except Exception as exc:
        raise DataSourceError(f"{sql_label(cfg)}: cannot look up table {cfg.table!r}: {exc}") from exc
    if not exists:
        raise SourceConfigError(
            f"{field}.table: table {cfg.table!r} does not exist in connection {cfg.conn_id!r}"
        )


def _check_table_columns(hook: Any, cfg: SqlSource, columns: list[str], label: str) -> None:
    """Name the table's missing columns before selecting them."""
    probe_sql = f"SELECT * FROM {quote_identifier(hook, cfg.table or '')} WHERE 1 = 0"  # noqa: S608 - the table name is quoted by quote_identifier; no value in the text
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
