"""The `compute` section: where data steps run (pandas, duckdb, spark)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict


class SparkSettings(Strict):
    """Where the spark engine's jobs run (compute.engine: spark)."""

    master: str = Field(
        default="local[2]",
        min_length=1,
        description="Spark master URL, e.g. local[2], spark://host:7077, k8s://https://api:443.",
    )
    conn_id: str | None = Field(
        default=None, description="Airflow Spark connection for SparkSubmitOperator (default: master)."
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Spark configuration, e.g. {spark.executor.memory: 4g}."
    )
    submit: bool = Field(
        default=True,
        description="true: each data step is a Spark application submitted with the Spark provider's "
        "SparkSubmitHook (deploy mode client); false: the Airflow worker's process is the Spark driver.",
    )


class ComputeSection(Strict):
    """Where load, validate, drift and score run (training keeps its own pod or process)."""

    engine: Literal["pandas", "duckdb", "spark"] = Field(
        default="pandas",
        description="pandas: in memory on the worker (small data); duckdb: out-of-core on one worker "
        "within memory_limit_mb; spark: a Spark cluster (see docs/how-to/scale.md).",
    )
    memory_limit_mb: int | None = Field(
        default=None,
        ge=64,
        description="duckdb: the engine's memory limit (SET memory_limit); beyond it, work spills "
        "to temp_directory. Default: DuckDB's own (80% of RAM).",
    )
    temp_directory: str | None = Field(
        default=None,
        description="duckdb: where spilled data goes (default: DRIFTLINE_HOME/duckdb_tmp).",
    )
    threads: int | None = Field(default=None, ge=1, le=256, description="duckdb: worker threads.")
    exact_below_rows: int = Field(
        default=200_000,
        ge=0,
        description="Drift on an out-of-core engine: a column with at most this many rows on "
        "both sides is tested on its values (as the pandas engine does); above it, on aggregates.",
    )
    spark: SparkSettings = Field(default_factory=SparkSettings)

    @model_validator(mode="after")
    def _duckdb_settings(self) -> ComputeSection:
        if self.engine != "duckdb":
            given = [
                name
                for name in ("memory_limit_mb", "temp_directory", "threads")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} apply to compute.engine duckdb (engine is {self.engine!r})"
                )
        return self
