"""One local[2] SparkSession for every Spark test of the session (a JVM start costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    from driftline.config.models import ComputeSection
    from driftline.engines.spark import session

    spark = session(ComputeSection(engine="spark"))
    spark.conf.set("spark.sql.shuffle.partitions", "4")  # small data: few shuffle tasks
    yield spark
    spark.stop()
