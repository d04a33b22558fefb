"""Scoring on the duckdb engine: Arrow record batches from DuckDB, through the model, into the writer.

`score_items` has the signature of `driftline.inference.scoring.score_items` (the pandas
engine's scorer) and yields the same items; `driftline.inference.batch` picks the scorer of the
model's engine (`scorer_for`, the one hook in inference/). DuckDB keeps each entity's latest row
(by the config's timestamp; a tie keeps the later row in the file, as the pandas engine does)
with a window function that spills beyond compute.memory_limit_mb, and streams the result with
`to_arrow_reader(inference.chunk_rows)` (DuckDB 2.0's name for fetch_record_batch): the process
holds one batch of rows and the writer's queue, whatever the window's size. Each batch becomes
items through the inference package's own `frame_items` (predictions, A/B arms, item size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.engines.duckdb import connect, ident, literal, register_snapshot_store, snapshot_path
from driftline.inference.errors import InferenceInputError

if TYPE_CHECKING:
    from driftline.inference.arms import ArmPlan
    from driftline.inference.items import Item, RunStamp
    from driftline.inference.scoring import ScoringInput

Scorer = Callable[..., Iterator["Item"]]


def scorer_for(config: ModelConfig) -> Scorer:
    """The scorer of the model's compute engine (pandas: the inference package's own)."""
    if config.compute.engine == "duckdb":
        return score_items
    if config.compute.engine == "spark" and config.compute.spark.submit:
        from driftline.engines.spark_submit import score_items as submitted_score_items

        return submitted_score_items
    if config.compute.engine == "spark":
        from driftline.engines.spark_scoring import score_items as spark_score_items

        return spark_score_items
    from driftline.inference.scoring import score_items as pandas_score_items

    return pandas_score_items


def latest_rows_query(relation: str, entity: str, timestamp: str, columns: list[str]) -> str:
    selected = ", ".join(ident(c) for c in columns)
    return (
        f"SELECT {selected} FROM {relation} QUALIFY row_number() OVER "
        f"(PARTITION BY {ident(entity)} ORDER BY {ident(timestamp)} DESC, file_row_number DESC) = 1"
    )


def score_items(
    model: Any,
    source: ScoringInput,
    config: ModelConfig,
    stamp: RunStamp,
    stats: dict[str, int] | None = None,
    experiment: tuple[ArmPlan, Any] | None = None,
) -> Iterator[Item]:
    """Every prediction item of the (verified) snapshot, a record batch at a time."""
    from driftline.inference.scoring import frame_items, scoring_setup

    cfg, counts = scoring_setup(config, stats)
    entity, ts = config.data.entity_id, config.data.timestamp
    con = connect(config.compute)
    try:
        register_snapshot_store(con, source.uri)
        relation = f"read_parquet({literal(snapshot_path(source.uri))}, file_row_number = true)"
        total = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0]
        rows = int(total[0]) if total else 0
        nulls = con.execute(f"SELECT count(*) FROM {relation} WHERE {ident(entity)} IS NULL").fetchall()[0]
        if nulls and nulls[0]:
            raise InferenceInputError(
                f"snapshot {source.uri}: {nulls[0]} row(s) have no {entity!r}: they cannot be keyed"
            )
        counts["rows"] += rows
        query = latest_rows_query(relation, entity, ts, [entity, *config.feature_names])
        reader = con.sql(query).to_arrow_reader(cfg.chunk_rows)  # fetch_record_batch before DuckDB 2.0
        kept = 0
        for batch in reader:
            frame = batch.to_pandas()
            if frame.empty:
                continue
            kept += len(frame)
            yield from frame_items(model, frame, config, stamp, counts, experiment)
        counts["duplicates_dropped"] += rows - kept
    finally:
        con.close()
