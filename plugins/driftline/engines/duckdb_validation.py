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
from driftline.validation.report import Finding

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


def _type_ok(found: str, expected: str) -> bool:
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


def schema_findings(types: dict[str, str], config: ModelConfig) -> tuple[list[Finding], int]:
    """validation.gate.schema_findings on DuckDB column types."""
    findings: list[Finding] = []
    evaluated = 0
    for column in config.columns:
        evaluated += 1
        if column not in types:
            findings.append(
                Finding(
                    "expect_column_to_exist",
                    column,
                    "fail",
                    "validation.schema_checks",
                    {"column": column},
                    observed_value=f"missing; columns are {sorted(types)}",
                )
            )
    expected_types = {f.name: f.type for f in config.data.features}
    for column, expected in [*expected_types.items(), (config.data.timestamp, "timestamp")]:
        if column not in types:
            continue
        evaluated += 1
        if not _type_ok(types[column], expected):
            findings.append(
                Finding(
                    "expect_column_values_to_be_of_type",
                    column,
                    "fail",
                    "validation.schema_checks",
                    {"column": column, "type_": expected},
                    observed_value=f"expected {expected}, found {types[column]}",
                )
            )
    return findings, evaluated


def validate_snapshot(
    compute: ComputeSection, snapshot: SnapshotRef, config: ModelConfig
) -> ValidationReport:
    """The model's validation gate on a raw snapshot, run by GX on DuckDB."""
    from driftline.data.snapshots import verify_snapshot_file
    from driftline.validation.gate import build_report, ephemeral_context, quiet_gx

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
        schema_findings(types, config) if config.validation.schema_checks else ([], 0)
    )
    quiet_gx()
    import great_expectations as gx

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
    suite = ctx.suites.add(
        gx.ExpectationSuite(name=f"{config.model.name}-{suffix}", expectations=list(gx_objects))
    )
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=f"{config.model.name}-{suffix}", data=batch, suite=suite)
    )
    result = definition.run()
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
