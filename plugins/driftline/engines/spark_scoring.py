"""Scoring on the spark engine: per partition with `mapInPandas`, the champion loaded once per partition.

`score_items` has the signature of `driftline.inference.scoring.score_items` (the pandas engine's
scorer) and yields the same items (`driftline.inference.scoring.frame_items`, per batch):

1. Spark keeps each entity's latest row (by the config's timestamp; a tie keeps the later row in
   the file, as the other engines do) with a window function over the snapshot, shuffled by entity;
2. `mapInPandas` runs on the executors: the model(s) (champion, and the challenger of an A/B
   experiment) travel once as a broadcast variable and are unpickled once per partition; rows
   come in Arrow record batches of `inference.chunk_rows` (spark.sql.execution.arrow.
   maxRecordsPerBatch) and leave as the items of that batch, so scoring runs on every executor
   at once and no process holds more than a batch;
3. the driver streams the items partition by partition (`toLocalIterator`) into the writer of
   `driftline.inference.batch` (its lock, fencing, conditions and checksum are the other
   engines'), with the per-partition counts (items, A/B arms) merged into `stats`.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.engines.spark import col, read_snapshots, session
from driftline.inference.errors import InferenceInputError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.inference.arms import ArmPlan
    from driftline.inference.items import Item, RunStamp
    from driftline.inference.scoring import ScoringInput

ORDER = "__driftline_row"
RANK = "__driftline_rank"


def score_partition(payload: Any) -> Any:
    """The mapInPandas function: unpickles the model(s) once, then turns each batch into its items."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        from driftline.inference.scoring import frame_items

        model, experiment, config, stamp = pickle.loads(payload.value)  # noqa: S301 -- our own broadcast
        counts: dict[str, int] = {"items": 0}
        for batch in batches:
            frame = batch.drop(columns=[ORDER, RANK], errors="ignore").reset_index(drop=True)
            if frame.empty:
                continue
            items = [pickle.dumps(i) for i in frame_items(model, frame, config, stamp, counts, experiment)]
            yield pd.DataFrame({"kind": ["item"] * len(items), "payload": items})
        yield pd.DataFrame({"kind": ["counts"], "payload": [pickle.dumps(counts)]})

    return run


def score_items(
    model: Any,
    source: ScoringInput,
    config: ModelConfig,
    stamp: RunStamp,
    stats: dict[str, int] | None = None,
    experiment: tuple[ArmPlan, Any] | None = None,
) -> Iterator[Item]:
    """Every prediction item of the (verified) snapshot, scored per Spark partition."""
    from pyspark import cloudpickle
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from driftline.inference.scoring import scoring_setup

    cfg, counts = scoring_setup(config, stats)
    entity, ts = config.data.entity_id, config.data.timestamp
    spark = session(config.compute)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(cfg.chunk_rows))
    frame = read_snapshots(spark, [source.uri]).withColumn(ORDER, F.monotonically_increasing_id())
    rows = frame.count()
    nulls = frame.where(col(entity).isNull()).count()
    if nulls:
        raise InferenceInputError(
            f"snapshot {source.uri}: {nulls} row(s) have no {entity!r}: they cannot be keyed"
        )
    counts["rows"] += rows
    latest = Window.partitionBy(col(entity)).orderBy(col(ts).desc(), F.col(ORDER).desc())
    wanted = [entity, *config.feature_names]
    kept = (
        frame.withColumn(RANK, F.row_number().over(latest))
        .where(F.col(RANK) == 1)
        .select(*[col(c) for c in wanted])
    )
    payload = spark.sparkContext.broadcast(cloudpickle.dumps((model, experiment, config, stamp)))  # type: ignore[no-untyped-call]
    scored = kept.mapInPandas(score_partition(payload), "kind string, payload binary")
    scored_items = 0
    try:
        for row in scored.toLocalIterator():
            if row["kind"] == "counts":
                for key, n in pickle.loads(row["payload"]).items():  # noqa: S301 -- our executors
                    if key != "items":
                        counts[key] = counts.get(key, 0) + int(n)
                continue
            scored_items += 1
            counts["items"] += 1
            yield pickle.loads(row["payload"])  # noqa: S301 -- our executors
    finally:
        payload.unpersist()
    counts["duplicates_dropped"] += rows - scored_items
