"""Where a model's data steps run: pandas (in memory), duckdb (out-of-core), spark (a cluster).

`engine_for(config)` returns the engine of a model's `compute.engine`; see
`driftline.engines.base` for the interface and docs/how-to/scale.md for when to pick
which engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.exceptions import ConfigError

if TYPE_CHECKING:
    from driftline.config.models import ComputeSection, ModelConfig
    from driftline.engines.base import Engine


class EngineUnavailableError(ConfigError):
    """The configured compute engine cannot run here (not built, or its library is missing): a
    config error naming the file and `compute.engine`, never retried."""


def engine_for(config: ModelConfig) -> Engine | None:
    """The model's out-of-core engine, or None for `pandas` (the steps' own in-memory code)."""
    return engine_from_settings(config.compute, config.model.name)


def engine_from_settings(compute: ComputeSection, model: str = "") -> Engine | None:
    if compute.engine == "pandas":
        return None
    if compute.engine == "duckdb":
        from driftline.engines.duckdb import DuckDBEngine

        return DuckDBEngine(compute)
    if compute.spark.submit:
        from driftline.engines.spark_submit import SubmittedSparkEngine

        return SubmittedSparkEngine(compute, model)
    from driftline.engines.spark import SparkEngine

    return SparkEngine(compute, model)
