"""compute.engine: spark is not built in this release: it fails loudly, never half-works.

The design it will follow (docs/how-to/scale.md): the same aggregates as the duckdb
engine (driftline.engines.aggregates) computed by Spark SQL, validation through Great
Expectations' Spark execution engine, per-partition scoring, submitted through
apache-airflow-providers-apache-spark's SparkSubmitOperator.
"""

from __future__ import annotations

from typing import Any, NoReturn

from driftline.config.models import ComputeSection
from driftline.engines import EngineUnavailableError


class SparkEngine:
    """Refuses every step with an error naming the model's config field."""

    name = "spark"

    def __init__(self, compute: ComputeSection, model: str = "") -> None:
        self.compute = compute
        self.model = model
        self._refuse()

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        where = f"dags/configs/{self.model}.yaml" if self.model else "the model config"
        raise EngineUnavailableError(
            where,
            [
                "compute.engine 'spark' is not built in this Driftline release (driftline/engines/spark.py): "
                "use compute.engine 'duckdb' (out-of-core on one worker) or 'pandas'"
            ],
        )

    load_window = validate = data_drift = _refuse
