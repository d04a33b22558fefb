"""The duckdb engine: a model's data steps out-of-core on one worker.

DuckDB reads the model's parquet/CSV partitions with `read_parquet` / `read_csv` (hive
partitioning on, columns by name), filters the window and writes the snapshot with `COPY`, all
streamed: the window is never a pandas frame. `compute.memory_limit_mb` is the worker process's
budget: DuckDB's `memory_limit` is 70% of it (`DUCKDB_SHARE`), the rest is the Python side's;
`compute.temp_directory` is the folder operators spill to beyond it.

Sources:
- local files: the same partition discovery as the pandas engine (`driftline.data.sources`:
  missing current days are late data, missing training days are tolerated and recorded);
- S3: the wheel does not bundle DuckDB's `httpfs` extension (it would be downloaded at first
  use), so objects are read through the connection's fsspec filesystem
  (`SourceAccess.s3_filesystem`) registered with DuckDB: credentials stay with that client;
- SQL: the query the pandas engine would send (the window pushed down), its rows fetched from
  the DB-API cursor a block at a time into a parquet file that DuckDB then reads.

Types follow the config losslessly or fail naming the column: int needs an integer column,
float a numeric one, bool a boolean one; category/string are read as text. The timestamp
becomes TIMESTAMP WITH TIME ZONE (UTC), as in the pandas engine.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config.models import ComputeSection, LocalSource, ModelConfig, S3Source, SqlSource
from driftline.data.frames import NothingArrivedError, SourceSchemaError
from driftline.exceptions import DataSourceError

if TYPE_CHECKING:
    import duckdb

    from driftline.data.access import SourceAccess
    from driftline.data.snapshots import SnapshotRef
    from driftline.data.windows import Window
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.validation.report import ValidationReport

log = logging.getLogger(__name__)

SQL_FETCH_ROWS = 50_000
_INT_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_NUM_TYPES = (*_INT_TYPES, "FLOAT", "DOUBLE", "DECIMAL", "REAL")


def literal(value: str) -> str:
    """A SQL string literal (single quotes doubled; NUL refused)."""
    if "\x00" in value:
        raise ValueError(f"a NUL character cannot be part of a SQL literal: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier (double quotes doubled)."""
    if "\x00" in name:
        raise ValueError(f"a NUL character cannot be part of a column name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def temp_root(compute: ComputeSection) -> Path:
    from driftline.settings import driftline_home

    root = Path(compute.temp_directory) if compute.temp_directory else driftline_home() / "duckdb_tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


#: compute.memory_limit_mb is the whole worker process's budget: DuckDB's buffer manager gets this
#: share of it, the rest is for the Python side (imports, the model, Arrow batches, GX).
DUCKDB_SHARE = 0.7


def duckdb_memory_mb(limit_mb: int) -> int:
    return max(int(limit_mb * DUCKDB_SHARE), 64)


def connection_config(compute: ComputeSection) -> dict[str, Any]:
    """DuckDB settings of a connection: memory limit, spill folder, threads (the wheel has no ICU: times are UTC)."""
    config: dict[str, Any] = {
        "temp_directory": str(temp_root(compute)),
        "preserve_insertion_order": False,  # lets COPY and aggregates stream in bounded memory
    }
    if compute.memory_limit_mb is not None:
        config["memory_limit"] = f"{duckdb_memory_mb(compute.memory_limit_mb)}MB"
    if compute.threads is not None:
        config["threads"] = compute.threads
    return config


def connect(compute: ComputeSection) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:", config=connection_config(compute))
    con.execute("SET enable_progress_bar = false")  # a connection option, not a config one
    return con


def snapshot_path(uri: str) -> str:
    """A path DuckDB can read for a snapshot URI (local folders; s3:// through fsspec)."""
    return uri.removeprefix("file://")


def register_snapshot_store(con: duckdb.DuckDBPyConnection, uri: str) -> None:
    """Let DuckDB read an object-store snapshot through the snapshot store's own filesystem."""
    from driftline.objectstore import is_object_store_uri

    if not is_object_store_uri(uri):
        return
    from driftline.data.snapshots import storage_path

    fs = storage_path(uri).fs
    if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]):
        con.register_filesystem(fs)


def scan(paths: list[str], file_format: str, encoding: str | None = None) -> str:
    """The table function reading `paths` (hive partitioning on, columns matched by name)."""
    files = "[" + ", ".join(literal(p) for p in paths) + "]"
    if file_format == "parquet":
        return f"read_parquet({files}, hive_partitioning = true, union_by_name = true)"
    enc = (encoding or "utf-8").lower().replace("_", "-")
    if enc not in ("utf-8", "utf8", "latin-1", "latin1", "iso-8859-1", "utf-16"):
        raise DataSourceError(
            f"data.source.encoding {encoding!r}: the duckdb engine reads utf-8, utf-16 and latin-1 CSV; "
            "use compute.engine pandas for other encodings"
        )
    enc = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1"}.get(enc, enc)
    return (
        f"read_csv({files}, header = true, hive_partitioning = true, union_by_name = true, "
        f"encoding = {literal(enc)})"
    )


def _projection(con: duckdb.DuckDBPyConnection, relation: str, config: ModelConfig, label: str) -> list[str]:
    """SELECT items that give every config column its type, or SourceSchemaError naming the column."""
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    types = {str(row[0]): str(row[1]).upper() for row in described}
    missing = [c for c in config.columns if c not in types]
    if missing:
        raise SourceSchemaError(f"{label}: missing column(s) {missing}; found {sorted(types)}")
    wanted = {f.name: f.type for f in config.data.features}
    items = []
    problems = []
    for column in config.columns:
        found = types[column]
        q = ident(column)
        if column == config.data.timestamp:
            if found.startswith("TIMESTAMP") or found == "DATE":
                items.append(f"CAST({q} AS TIMESTAMPTZ) AS {q}")
            elif found == "VARCHAR":
                items.append(f"CAST({q} AS TIMESTAMPTZ) AS {q}")
            else:
                problems.append(f"{column}: expected a timestamp, found {found}")
            continue
        expected = wanted.get(column)
        base = found.split("(")[0]
        bad = literal(f"{label}: column {column}: a value is not a lossless {expected}")
        if expected == "int" and base in ("FLOAT", "DOUBLE", "DECIMAL", "REAL"):
            items.append(
                f"CASE WHEN {q} IS NULL OR {q} = trunc({q}) THEN CAST({q} AS BIGINT) ELSE error({bad}) END AS {q}"
            )
            continue
        if expected == "bool" and base in _INT_TYPES:
            items.append(f"CASE WHEN {q} IS NULL OR {q} IN (0, 1) THEN {q} = 1 ELSE error({bad}) END AS {q}")
            continue
        if expected == "int" and base not in _INT_TYPES:
            problems.append(f"{column}: expected int, found {found}")
        elif expected == "float" and base not in _NUM_TYPES:
            problems.append(f"{column}: expected float, found {found}")
        elif expected == "float":
            items.append(f"CAST({q} AS DOUBLE) AS {q}")
            continue
        elif expected == "bool" and base != "BOOLEAN":
            problems.append(f"{column}: expected bool, found {found}")
        elif expected in ("category", "string") and base != "VARCHAR":
            items.append(f"CAST({q} AS VARCHAR) AS {q}")
            continue
        items.append(q)
    if problems:
        raise SourceSchemaError(f"{label}: column types do not match the config: " + "; ".join(problems))
    return items


class DuckDBEngine:
    """compute.engine: duckdb (see the module docstring)."""

    name = "duckdb"

    def __init__(self, compute: ComputeSection) -> None:
        self.compute = compute

    def connect(self) -> duckdb.DuckDBPyConnection:
        return connect(self.compute)

    # --- load ---------------------------------------------------------------------------

    def load_window(
        self,
        source: LocalSource | S3Source | SqlSource,
        window: Window,
        config: ModelConfig,
        uri: str,
        facts: dict[str, Any],
        *,
        access: SourceAccess | None = None,
        exclude_ranges: list[tuple[str, str]] | None = None,
    ) -> tuple[SnapshotRef, dict[str, Any]]:
        from driftline.data.snapshots import SNAPSHOT_ROW_GROUP_ROWS, write_snapshot_file

        con = self.connect()
        scratch = temp_root(self.compute) / f"load-{uuid.uuid4().hex}"
        scratch.mkdir(parents=True)
        try:
            relation, partitions, missing, label = self._relation(
                con, source, window, config, scratch, access
            )
            items = _projection(con, relation, config, label)
            ts = ident(config.data.timestamp)
            where = [f"{ts} < {literal(window.end.isoformat())}::TIMESTAMPTZ"]
            if window.start is not None:
                where.append(f"{ts} >= {literal(window.start.isoformat())}::TIMESTAMPTZ")
            typed = f"(SELECT {', '.join(items)} FROM {relation})"
            excluded: list[dict[str, Any]] = []
            for start, end in exclude_ranges or []:
                inside = f"{ts} >= {literal(start)}::TIMESTAMPTZ AND {ts} < {literal(end)}::TIMESTAMPTZ"
                rows = con.execute(
                    f"SELECT count(*) FROM {typed} WHERE {' AND '.join(where)} AND {inside}"
                ).fetchall()[0]
                if rows and rows[0]:
                    excluded.append({"start": start, "end": end, "rows": int(rows[0])})
                where.append(f"NOT ({inside})")
            out = scratch / "snapshot.parquet"
            try:
                con.execute(
                    f"COPY (SELECT * FROM {typed} WHERE {' AND '.join(where)}) TO {literal(str(out))} "
                    f"(FORMAT parquet, ROW_GROUP_SIZE {SNAPSHOT_ROW_GROUP_ROWS}, COMPRESSION zstd)"
                )
            except Exception as exc:
                if "not a lossless" in str(exc) or type(exc).__name__ == "ConversionException":
                    raise SourceSchemaError(f"{label}: {exc}") from exc
                raise DataSourceError(f"{label}: cannot read the window: {exc}") from exc
            counted = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(out))})").fetchall()[0]
            rows_out = int(counted[0]) if counted else 0
            if rows_out == 0:
                raise NothingArrivedError(
                    f"{label}: no rows with {config.data.timestamp} in the window "
                    f"[{window.start.isoformat() if window.start else '-inf'}, {window.end.isoformat()}) "
                    f"(read {len(partitions)} partition(s)); the data may not have arrived yet"
                )
            load_facts = {
                "partitions": partitions,
                "missing_partitions": missing,
                "quarantined_excluded": excluded,
            }
            ref = write_snapshot_file(out, uri, rows_out, {**facts, **load_facts, "engine": self.name})
            return ref, load_facts
        finally:
            con.close()
            for leftover in scratch.glob("*"):
                leftover.unlink(missing_ok=True)
            scratch.rmdir()

    def _relation(
        self,
        con: duckdb.DuckDBPyConnection,
        source: LocalSource | S3Source | SqlSource,
        window: Window,
        config: ModelConfig,
        scratch: Path,
        access: SourceAccess | None,
    ) -> tuple[str, list[str], list[str], str]:
        from driftline.data.sources import find_partitions, lister_for

        if isinstance(source, SqlSource):
            path, label = self._sql_to_parquet(source, window, config, scratch, access)
            return f"read_parquet({literal(str(path))})", [label], [], label
        lister = lister_for(source, "data.source", access)
        lister.check_root()
        found, missing = find_partitions(lister, window, window.kind != "current")
        if isinstance(source, S3Source):
            fs = lister.fs  # type: ignore[attr-defined]
            con.register_filesystem(fs)
            bucket = lister.bucket  # type: ignore[attr-defined]
            paths = [f"s3://{bucket}/{p.location}" for p in found]
        else:
            paths = [p.location for p in found]
        return (
            scan(paths, source.format, source.encoding),
            [p.location for p in found],
            missing,
            lister.describe(),
        )

    def _sql_to_parquet(
        self,
        source: SqlSource,
        window: Window,
        config: ModelConfig,
        scratch: Path,
        access: SourceAccess | None,
    ) -> tuple[Path, str]:
        """Stream the window's rows from the database cursor into a parquet file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from driftline.data.access import require
        from driftline.data.sources import build_query, check_table

        hook = require(access, "data.source", "sql").sql(source.conn_id, "data.source.conn_id")
        label = f"sql source {source.table or 'query'!r} (connection {source.conn_id!r})"
        check_table(hook, source)
        columns = config.columns
        sql, params = build_query(source, hook, window, columns, config.data.timestamp)
        path = scratch / "sql.parquet"
        writer = None
        try:
            conn = hook.get_conn()
            cursor = conn.cursor()
            cursor.execute(sql, params)
            names = [d[0] for d in cursor.description]
            missing = [c for c in columns if c not in names]
            if missing:
                raise SourceSchemaError(
                    f"{label}: the query returns no column(s) {missing}; it returns {names}"
                )
            while rows := cursor.fetchmany(SQL_FETCH_ROWS):
                table = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])
                table = table.select(columns)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                elif table.schema != writer.schema:
                    table = table.cast(writer.schema)
                writer.write_table(table)
            cursor.close()
        except (SourceSchemaError, NothingArrivedError):
            raise
        except Exception as exc:
            raise DataSourceError(f"{label}: query failed: {exc}\n  SQL: {sql}") from exc
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise NothingArrivedError(f"{label}: no rows in the window; the data may not have arrived yet")
        return path, label

    # --- validate, drift ------------------------------------------------------------------

    def validate(self, snapshot: SnapshotRef, config: ModelConfig) -> ValidationReport:
        from driftline.engines.duckdb_validation import validate_snapshot

        return validate_snapshot(self.compute, snapshot, config)

    def data_drift(
        self, reference: SnapshotRef, current: SnapshotRef | list[SnapshotRef], settings: DriftSettings
    ) -> DataDriftResult:
        from driftline.engines.duckdb_drift import data_drift

        return data_drift(self, reference, current, settings)


def scratch_dir(compute: ComputeSection) -> str:
    return tempfile.mkdtemp(prefix="driftline-", dir=os.fspath(temp_root(compute)))
