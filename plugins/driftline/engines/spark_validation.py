"""Validation on the spark engine: Great Expectations' own Spark execution engine.

The model's suite (validation.expectations, validation.suite, validation.min_rows) runs through
GX 1.x's `SparkDFExecutionEngine`: a GX spark data source with a dataframe asset whose batch is
the snapshot's Spark DataFrame; GX computes each metric with Spark (column aggregates, row
conditions, the unexpected counts), on the executors. Nothing is re-implemented here: an
expectation GX's Spark engine cannot compute comes back as a failed expectation carrying GX's
own exception, so a fail-severity expectation fails the gate loudly, never skipped. The schema
checks (validation.schema_checks) read the Spark schema of the snapshot (Spark type names).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from driftline.config.models import ModelConfig
from driftline.engines.spark import INT_TYPES, NUM_TYPES, read_snapshots, type_name, unique_name
from driftline.validation import expectations as planning

if TYPE_CHECKING:
    from driftline.data.snapshots import SnapshotRef
    from driftline.engines.spark import SparkEngine
    from driftline.validation.report import ValidationReport

ENGINE_LABEL = "spark (Great Expectations SparkDFExecutionEngine)"


def type_fits(found: str, expected: str) -> bool:
    """Whether a Spark column type holds a config type (validation.gate.schema_findings_for)."""
    base = found.split("(")[0]
    if expected == "int":
        return base in INT_TYPES
    if expected == "float":
        return base in (*NUM_TYPES, "decimal")
    if expected == "bool":
        return base == "boolean"
    if expected == "string":
        return base == "string"
    if expected == "timestamp":
        return base in ("timestamp", "timestamp_ntz")
    return True


def validate_snapshot(engine: SparkEngine, snapshot: SnapshotRef, config: ModelConfig) -> ValidationReport:
    """The model's validation gate on a raw snapshot, run by GX on Spark."""
    from driftline.data.snapshots import verify_snapshot_file
    from driftline.validation.gate import build_report, ephemeral_context, run_on_batch, schema_findings_for

    began = time.perf_counter()
    verify_snapshot_file(snapshot.uri, require="raw", sha256=snapshot.sha256)
    frame = read_snapshots(engine.session(), [snapshot.uri])
    types = {f.name: type_name(f.dataType) for f in frame.schema.fields}
    rows = frame.count()
    planned = planning.from_config(config)
    where = f"validation ({config.model.name})"
    gx_objects = [planning.build(p, where) for p in planned]
    failures, schema_evaluated = (
        schema_findings_for(types, config, type_fits) if config.validation.schema_checks else ([], 0)
    )
    ctx = ephemeral_context()
    name = unique_name(config.model.name)
    batch = (
        ctx.data_sources.add_spark(name)
        .add_dataframe_asset("snapshot")
        .add_batch_definition_whole_dataframe("whole")
    )
    result = run_on_batch(ctx, batch, gx_objects, name, {"dataframe": frame})
    return build_report(
        config, planned, result, failures, schema_evaluated, rows, len(types), began, engine=ENGINE_LABEL
    )
