"""Validation on the duckdb engine: Great Expectations' own SQL execution engine over DuckDB.

The model's suite (validation.expectations, validation.suite, validation.min_rows) runs through
GX 1.x's SqlAlchemyExecutionEngine on a `duckdb_engine` SQLAlchemy connection, against a query
asset `SELECT * FROM read_parquet(<snapshot>)`: GX compiles each metric to SQL and DuckDB runs it
out-of-core within compute.memory_limit_mb. Nothing is re-implemented: an expectation GX cannot
compile for this dialect (e.g. the regex family: GX knows no regex operator for DuckDB) comes
back as a failed expectation carrying GX's own exception, i.e. a fail-severity expectation fails
the gate loudly, it is never skipped. The schema checks (validation.schema_checks) read the
parquet schema through DuckDB instead of pandas dtypes.

duckdb_engine's cursor is its connection: a result is lost once another statement runs on it,
and GX reads its results after returning the connection to the pool (which rolls back). The
SQLAlchemy `creator` here hands GX a connection whose every cursor is its own DuckDB cursor, so
each result survives until GX reads it.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from driftline.config.models import ComputeSection, ModelConfig
from driftline.engines.duckdb import connect, ident, literal, register_snapshot_store, snapshot_path
from driftline.validation import expectations as planning

if TYPE_CHECKING:
    import duckdb

    from driftline.data.snapshots import SnapshotRef
    from driftline.validation.report import ValidationReport

_INT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_NUM = (*_INT, "FLOAT", "DOUBLE", "DECIMAL", "REAL")


def sqlalchemy_creator(compute: ComputeSection, snapshot_uri: str) -> Any:
    """A SQLAlchemy `creator` for GX: DuckDB connections with the engine's settings."""
    from duckdb_engine import ConnectionWrapper, CursorWrapper

    class _Connection(ConnectionWrapper):
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            super().__init__(con)
            self.database = con

        def cursor(self) -> CursorWrapper:
            return CursorWrapper(self.database.cursor(), self)

    def create() -> _Connection:
        con = connect(compute)
        register_snapshot_store(con, snapshot_uri)
        return _Connection(con)

    return create


def type_fits(found: str, expected: str) -> bool:
    """Whether a DuckDB column type holds a config type (validation.gate.schema_findings_for)."""
    base = found.split("(")[0]
    if expected == "int":
        return base in _INT
    if expected == "float":
        return base in _NUM
    if expected == "bool":
        return base == "BOOLEAN"
    if expected == "string":
        return base in ("VARCHAR", "ENUM")
    if expected == "timestamp":
        return base.startswith("TIMESTAMP")
    return True


def validate_snapshot(
    compute: ComputeSection, snapshot: SnapshotRef, config: ModelConfig
) -> ValidationReport:
    """The model's validation gate on a raw snapshot, run by GX on DuckDB."""
    from driftline.data.snapshots import verify_snapshot_file
    from driftline.validation.gate import build_report, ephemeral_context, run_on_batch, schema_findings_for

    began = time.perf_counter()
    verify_snapshot_file(snapshot.uri, require="raw", sha256=snapshot.sha256)
    relation = f"read_parquet({literal(snapshot_path(snapshot.uri))})"
    con = connect(compute)
    try:
        register_snapshot_store(con, snapshot.uri)
        types = {
            str(r[0]): str(r[1]).upper() for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        }
        counted = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0]
        rows = int(counted[0]) if counted else 0
    finally:
        con.close()
    planned = planning.from_config(config)
    where = f"validation ({config.model.name})"
    gx_objects = [planning.build(p, where) for p in planned]
    failures, schema_evaluated = (
        schema_findings_for(types, config, type_fits) if config.validation.schema_checks else ([], 0)
    )
    ctx = ephemeral_context()
    suffix = uuid.uuid4().hex[:8]
    source = ctx.data_sources.add_sql(
        f"{config.model.name}-{suffix}",
        connection_string="duckdb://",
        kwargs={"creator": sqlalchemy_creator(compute, snapshot.uri)},
    )
    columns = ", ".join(ident(c) for c in types)
    batch = source.add_query_asset(
        "snapshot", query=f"SELECT {columns} FROM {relation}"
    ).add_batch_definition_whole_table("whole")
    result = run_on_batch(ctx, batch, gx_objects, f"{config.model.name}-{suffix}")
    return build_report(
        config,
        planned,
        result,
        failures,
        schema_evaluated,
        rows,
        len(types),
        began,
        engine="duckdb (Great Expectations SqlAlchemyExecutionEngine via duckdb_engine)",
    )
