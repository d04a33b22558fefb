"""The spark engine: a model's data steps on a Spark cluster (compute.engine: spark).

- load: Spark reads the window's partitions (the same partition discovery as the other engines,
  `driftline.data.sources`), gives every config column its type losslessly (or fails naming the
  column), filters the window and quarantined ranges and writes parquet part files from the
  executors; the driver then streams the part files, a row group at a time, into the one
  snapshot file every engine reads (`driftline.data.snapshots`). Local parquet/CSV partitions
  are read here; S3 through Hadoop's `s3a` filesystem when the cluster has it (hadoop-aws on
  the classpath, credentials the cluster's own, e.g. `spark.hadoop.fs.s3a.*` in
  compute.spark.conf): without it the load fails naming compute.spark.conf. SQL sources are
  refused naming data.source.kind (use compute.engine duckdb, which streams the cursor).
- validate: Great Expectations' own Spark execution engine (`SparkDFExecutionEngine`, a GX
  spark data source with a dataframe asset) runs the model's suite on the snapshot's Spark
  DataFrame (`driftline.engines.spark_validation`).
- drift: the duckdb engine's aggregates computed with Spark SQL, fed to the same decision code
  (`driftline.engines.spark_drift`, `driftline.engines.aggregates`).
- score: per partition with `mapInPandas` (`driftline.engines.spark_scoring`).

Under Airflow the steps run in a Spark application submitted by the Spark provider's
`SparkSubmitHook` (`driftline.engines.spark_submit`); this module is what that application (and
an in-process driver, e.g. the tests' `local[2]`) runs. One SparkSession per process
(`session()`), with the UI off and its time zone UTC.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config.models import ComputeSection, LocalSource, ModelConfig, S3Source, SqlSource
from driftline.data.frames import NothingArrivedError, SourceSchemaError
from driftline.engines import EngineUnavailableError
from driftline.exceptions import DataSourceError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from driftline.data.access import SourceAccess
    from driftline.data.snapshots import SnapshotRef
    from driftline.data.windows import Window
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.validation.report import ValidationReport

log = logging.getLogger(__name__)

INT_TYPES = ("tinyint", "smallint", "int", "bigint")
NUM_TYPES = (*INT_TYPES, "float", "double")

#: Settings every Driftline SparkSession gets (compute.spark.conf may add to them, not change them).
BASE_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # snapshots written by the pandas engine carry nanosecond timestamps, which Spark refuses
    # unless read as longs (converted back to timestamps by read_snapshots)
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def session(compute: ComputeSection) -> SparkSession:
    """The process's SparkSession: the active one (a submitted application's, a test fixture's), else
    one built from compute.spark (master, conf) with BASE_CONF."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the `spark` extra is not installed
        raise EngineUnavailableError(
            "the model config",
            [f"compute.engine 'spark' needs pyspark (pip install 'driftline[spark]'): {exc}"],
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("driftline").master(compute.spark.master)
    conf = {**compute.spark.conf, **BASE_CONF}
    if compute.spark.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault(
            "PYSPARK_PYTHON", sys.executable
        )  # executors import driftline as the driver does
        conf.setdefault("spark.driver.bindAddress", "127.0.0.1")
        conf.setdefault("spark.driver.host", "127.0.0.1")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def col(name: str) -> Column:
    """A column by its exact name (any character, backticks escaped): never parsed as an expression."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def local_path(uri: str) -> str:
    """A path Spark reads for a snapshot URI (local folders; s3:// through s3a)."""
    if uri.startswith("s3://"):
        return "s3a://" + uri.removeprefix("s3://")
    return uri.removeprefix("file://")


def read_snapshots(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Snapshot file(s) as one DataFrame, columns by name; nanosecond timestamps (the pandas
    engine's snapshots) read back as timestamps (to the microsecond)."""

    frame = spark.read.option("mergeSchema", "true").parquet(*[local_path(u) for u in uris])
    return with_timestamps(frame, uris[0])


def with_timestamps(frame: DataFrame, first: str) -> DataFrame:
    """Columns a (local) parquet file stores as nanosecond timestamps, which Spark read as longs
    (spark.sql.legacy.parquet.nanosAsLong), as timestamps again (to the microsecond)."""
    from pyspark.sql import functions as F

    nanos = nanosecond_columns(first)
    if not nanos:
        return frame
    return frame.select(
        *[
            F.timestamp_micros(F.floor(col(c) / 1000)).alias(c)
            if c in nanos and type_name(frame.schema[c].dataType) == "bigint"
            else col(c)
            for c in frame.columns
        ]
    )


def nanosecond_columns(uri: str) -> set[str]:
    """The columns of a (local) snapshot file stored as nanosecond timestamps."""
    if not Path(local_path(uri)).is_file():
        return set()
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(local_path(uri))
    return {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"}


def parquet_rows(path: str) -> int:
    """A local parquet file's row count, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def type_name(data_type: Any) -> str:
    """Spark's SQL name of a type: bigint, double, string, timestamp, ..."""
    return str(data_type.simpleString())


def spark_error_text(exc: BaseException) -> str:
    """The first line of a Spark (JVM) error, without the Java stack."""
    text = str(exc)
    return text.split("\n\tat ", 1)[0].strip()


def projection(frame: DataFrame, config: ModelConfig, label: str) -> list[Column]:
    """Columns giving every config column its type losslessly, or SourceSchemaError naming the column."""
    from pyspark.sql import functions as F

    types = {f.name: type_name(f.dataType) for f in frame.schema.fields}
    missing = [c for c in config.columns if c not in types]
    if missing:
        raise SourceSchemaError(f"{label}: missing column(s) {missing}; found {sorted(types)}")
    wanted = {f.name: f.type for f in config.data.features}
    items: list[Column] = []
    problems: list[str] = []
    for column in config.columns:
        found = types[column]
        base = found.split("(")[0]
        c = col(column)
        if column == config.data.timestamp:
            if base in ("timestamp", "timestamp_ntz", "date", "string"):
                items.append(c.cast("timestamp").alias(column))
            else:
                problems.append(f"{column}: expected a timestamp, found {found}")
            continue
        expected = wanted.get(column)
        bad = F.raise_error(F.lit(f"{label}: column {column}: a value is not a lossless {expected}"))
        if expected == "int" and base in ("float", "double", "decimal"):
            items.append(
                F.when(c.isNull() | (c == F.floor(c)), c.cast("bigint")).otherwise(bad).alias(column)
            )
            continue
        if expected == "bool" and base in INT_TYPES:
            items.append(F.when(c.isNull() | c.isin(0, 1), c == 1).otherwise(bad).alias(column))
            continue
        if expected == "int" and base not in INT_TYPES:
            problems.append(f"{column}: expected int, found {found}")
        elif expected == "int":
            items.append(c.cast("bigint").alias(column))
            continue
        elif expected == "float" and base not in (*NUM_TYPES, "decimal"):
            problems.append(f"{column}: expected float, found {found}")
        elif expected == "float":
            items.append(c.cast("double").alias(column))
            continue
        elif expected == "bool" and base != "boolean":
            problems.append(f"{column}: expected bool, found {found}")
        elif expected in ("category", "string") and base != "string":
            items.append(c.cast("string").alias(column))
            continue
        items.append(c)
    if problems:
        raise SourceSchemaError(f"{label}: column types do not match the config: " + "; ".join(problems))
    return items


def merge_parts(folder: Any, out: Path) -> int:
    """Spark's part files (in a local Path or an object-store path) as one parquet file, a row group
    at a time; returns the row count."""
    import pyarrow.parquet as pq

    from driftline.data.snapshots import SNAPSHOT_ROW_GROUP_ROWS

    parts = sorted((p for p in folder.iterdir() if p.name.startswith("part-")), key=lambda p: p.name)
    rows = 0
    writer = None
    try:
        for part in parts:
            with part.open("rb") as handle:
                pf = pq.ParquetFile(handle)
                if writer is None:
                    writer = pq.ParquetWriter(out, pf.schema_arrow, compression="zstd")
                for batch in pf.iter_batches(batch_size=SNAPSHOT_ROW_GROUP_ROWS):
                    if batch.num_rows:
                        writer.write_batch(batch, row_group_size=SNAPSHOT_ROW_GROUP_ROWS)
                        rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def staging_uri(uri: str) -> str:
    """Where the executors write a snapshot's part files: beside the snapshot, in the snapshot root
    (on a cluster, an object store or a shared folder every executor and the driver reach)."""
    return f"{uri.removesuffix('.parquet')}._spark_parts_{uuid.uuid4().hex}"


def remove_staging(uri: str) -> None:
    from driftline.data.snapshots import storage_path
    from driftline.objectstore import is_object_store_uri

    if is_object_store_uri(uri):
        path = storage_path(uri)
        if path.exists():
            path.fs.rm(uri, recursive=True)
    else:
        shutil.rmtree(uri.removeprefix("file://"), ignore_errors=True)


class SparkEngine:
    """compute.engine: spark, in this process's SparkSession (see the module docstring)."""

    name = "spark"

    def __init__(self, compute: ComputeSection, model: str = "") -> None:
        self.compute = compute
        self.model = model

    def session(self) -> SparkSession:
        return session(self.compute)

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
        from pyspark.sql import functions as F

        from driftline.data.snapshots import write_snapshot_file

        spark = self.session()
        frame, partitions, missing, label = self._read(spark, source, window, config, access)
        typed = frame.select(*projection(frame, config, label))
        ts = col(config.data.timestamp)

        def at(iso: str) -> Column:
            return F.lit(iso).cast("timestamp")

        cond = ts < at(window.end.isoformat())
        if window.start is not None:
            cond = cond & (ts >= at(window.start.isoformat()))
        excluded: list[dict[str, Any]] = []
        for start, end in exclude_ranges or []:
            inside = (ts >= at(start)) & (ts < at(end))
            rows = self._run(lambda c=cond & inside: typed.where(c).count(), label)
            if rows:
                excluded.append({"start": start, "end": end, "rows": int(rows)})
            cond = cond & ~inside
        from driftline.data.snapshots import storage_path

        scratch = Path(tempfile.mkdtemp(prefix="driftline-spark-load-"))
        parts = staging_uri(uri)
        try:
            self._run(
                lambda: typed.where(cond).write.option("compression", "zstd").parquet(local_path(parts)),
                label,
            )
            out = scratch / "snapshot.parquet"
            rows_out = merge_parts(storage_path(parts), out)
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
            shutil.rmtree(scratch, ignore_errors=True)
            remove_staging(parts)

    @staticmethod
    def _run(action: Any, label: str) -> Any:
        """Run a Spark action; a lossless-type failure is a SourceSchemaError, any other a DataSourceError."""
        try:
            return action()
        except (SourceSchemaError, NothingArrivedError):
            raise
        except Exception as exc:
            text = spark_error_text(exc)
            if "not a lossless" in text:
                raise SourceSchemaError(f"{label}: {text}") from exc
            raise DataSourceError(f"{label}: cannot read the window: {text}") from exc

    def _read(
        self,
        spark: SparkSession,
        source: LocalSource | S3Source | SqlSource,
        window: Window,
        config: ModelConfig,
        access: SourceAccess | None,
    ) -> tuple[DataFrame, list[str], list[str], str]:
        from driftline.data.sources import find_partitions, lister_for

        if isinstance(source, SqlSource):
            raise EngineUnavailableError(
                f"dags/configs/{config.model.name}.yaml",
                [
                    "data.source.kind 'sql' is not read by compute.engine 'spark' in this release "
                    "(driftline/engines/spark.py): use compute.engine 'duckdb' (it streams the query's "
                    "cursor) or export the table to parquet partitions"
                ],
            )
        lister = lister_for(source, "data.source", access)
        lister.check_root()
        found, missing = find_partitions(lister, window, window.kind != "current")
        if isinstance(source, S3Source):
            self._require_s3a(spark, config)
            bucket = lister.bucket  # type: ignore[attr-defined]
            paths = [f"s3a://{bucket}/{p.location}" for p in found]
        else:
            paths = [p.location for p in found]
        label = lister.describe()
        if source.format == "parquet" and not isinstance(source, S3Source):
            # an empty file adds no rows, and its schema (pandas writes an empty text column as the
            # null type) would not merge with the others'
            paths = [p for p in paths if parquet_rows(p) > 0]
        if not paths:
            raise NothingArrivedError(
                f"{label}: no rows in the window's {len(found)} partition(s); the data may not have arrived yet"
            )
        if source.format == "parquet":
            reader = spark.read.option("mergeSchema", "true")
            frame = self._run(lambda: reader.parquet(*paths), label)
            if paths:
                frame = with_timestamps(frame, paths[0])
        else:
            enc = (source.encoding or "utf-8").lower()
            reader = spark.read.option("header", "true").option("inferSchema", "true").option("encoding", enc)
            frame = self._run(lambda: reader.csv(paths), label)
        return frame, [p.location for p in found], missing, label

    @staticmethod
    def _require_s3a(spark: SparkSession, config: ModelConfig) -> None:
        jvm = spark.sparkContext._jvm  # py4j's gateway: the only way to ask the JVM
        try:
            assert jvm is not None
            jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
        except Exception as exc:
            raise EngineUnavailableError(
                f"dags/configs/{config.model.name}.yaml",
                [
                    "data.source.kind 's3' on compute.engine 'spark' needs Hadoop's s3a filesystem on the "
                    "cluster: add hadoop-aws to compute.spark.conf (spark.jars.packages: "
                    "org.apache.hadoop:hadoop-aws:<the cluster's Hadoop version>) and its credentials "
                    f"(spark.hadoop.fs.s3a.*); {spark_error_text(exc)[:200]}"
                ],
            ) from exc

    # --- validate, drift ------------------------------------------------------------------

    def validate(self, snapshot: SnapshotRef, config: ModelConfig) -> ValidationReport:
        from driftline.engines.spark_validation import validate_snapshot

        return validate_snapshot(self, snapshot, config)

    def data_drift(
        self, reference: SnapshotRef, current: SnapshotRef | list[SnapshotRef], settings: DriftSettings
    ) -> DataDriftResult:
        from driftline.engines.spark_drift import data_drift

        return data_drift(self, reference, current, settings)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
