"""One local[2] SparkSession for every Spark test of the session (a JVM start costs seconds)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    # pyspark is installed by `make install` (extra spark): a missing one fails, never skips
    from driftline.config.models import ComputeSection
    from driftline.engines.spark import session

    spark = session(ComputeSection(engine="spark"))
    spark.conf.set("spark.sql.shuffle.partitions", "4")  # small data: few shuffle tasks
    yield spark
    spark.stop()
    # py4j closes its sockets in __del__ at interpreter exit and logs at INFO to a stream pytest has
    # already closed ("--- Logging error --- ValueError: I/O operation on closed file")
    logging.getLogger("py4j").setLevel(logging.WARNING)
