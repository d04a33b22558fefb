"""One batch-inference run: verify the snapshot, check the table, decide once, score, write."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

from driftline.config.models import ModelConfig
from driftline.inference.arms import ArmPlan
from driftline.inference.errors import InferenceInputError
from driftline.inference.lock import ScoringLock
from driftline.inference.runs import bump_generation, decide_run, raise_newest
from driftline.inference.scoring import arm_counts, verify_snapshot
from driftline.inference.table import ensure_table
from driftline.inference.writer import BatchWriter, Guard

log = logging.getLogger(__name__)


class ScoredBatch(TypedDict):
    """What score_and_write's payload says in both modes (upsert and snapshot)."""

    table: str
    layout: str
    model_name: str
    model_version: int
    alias: str
    run_id: str
    scored_at: str
    data_time: str
    snapshot_uri: str
    snapshot_sha256: str
    rows: int
    items: int
    duplicates_dropped: int
    written: int


class InferenceResult(ScoredBatch):
    """score_and_write's XCom payload in upsert mode."""

    kept_newer: int
    conditional: bool
    calls: int
    retries: int
    throttled: int
    unprocessed_resent: int
    consumed_wcu: float
    seconds: float
    lock_waited_s: float
    experiment_id: NotRequired[int]
    challenger_version: NotRequired[int]
    arms: NotRequired[dict[str, int]]


def run_batch_inference(
    client: Any,
    config: ModelConfig,
    snapshot: dict[str, Any],
    *,
    run_id: str,
    data_time: dt.datetime,
    champion_version: int,
    load_model: Callable[[int], Any],
    alias: str = "champion",
    scored_at: dt.datetime | None = None,
    experiment: ArmPlan | None = None,
    lock_options: dict[str, Any] | None = None,
) -> InferenceResult:
    """Score the validated snapshot with the champion and upsert the items (see the package docs).

    `champion_version` is the version the registry names now; a retry of a run that already
    recorded its decision scores with the recorded version instead (a retry never re-decides).
    `experiment`: the running A/B experiment's arms (driftline.inference.arms), recorded with the
    decision, so a retry splits and scores the entities as the first try did.

    Runs of one model score and write one at a time under the model's scoring lock
    (driftline.inference.lock; `lock_options`: ScoringLock's lease_s/margin_s/wait_s for tests):
    a newer data time always wins per item, whatever order overlapping runs and backfills take.
    """
    cfg = config.inference
    if cfg is None:
        raise InferenceInputError(f"model {config.model.name!r} has no inference section")
    started = time.perf_counter()
    source = verify_snapshot(snapshot)
    ensure_table(client, cfg)
    stamp = decide_run(
        client,
        cfg,
        model_name=config.registered_model_name,
        champion_version=champion_version,
        alias=alias,
        run_id=run_id,
        data_time=data_time,
        scored_at=scored_at,
        arms=experiment.to_json() if experiment is not None else "",
    )
    model = load_model(stamp.model_version)
    plan = ArmPlan.from_json(stamp.arms) if stamp.arms else None
    arms = (plan, load_model(plan.challenger_version)) if plan is not None else None
    if plan is not None:
        log.info(
            "A/B experiment #%d: challenger v%d on %.0f%%, no_model holdout %.0f%% (salt %r)",
            plan.experiment_id,
            plan.challenger_version,
            100 * plan.challenger_share,
            100 * plan.holdout_share,
            plan.salt,
        )
    writer = BatchWriter(client, cfg.table, writers=cfg.writers, max_attempts=cfg.max_attempts)
    counts: dict[str, int] = {}
    from driftline.engines.duckdb_scoring import scorer_for  # the compute engine's scorer

    guard = None
    holder = f"{stamp.model_name}/{stamp.run_id}"  # scheduled run ids are the same for every model
    with ScoringLock(client, cfg, holder, wait_s=cfg.lock_wait_min * 60, **(lock_options or {})) as lock:
        if cfg.layout == "latest":
            newer = raise_newest(client, cfg, stamp.data_time)
            if newer is not None:
                log.warning(
                    "table %s already holds data up to %s, newer than this run's %s: writing with conditions "
                    "that keep newer predictions",
                    cfg.table,
                    newer,
                    stamp.data_time,
                )
                guard = Guard(cfg.partition_key, "data_time", stamp.data_time)
        stats = writer.write(
            scorer_for(config)(model, source, config, stamp, counts, arms), guard, fence=lock.fence
        )
        lock.fence()
        # every item is in: readers' caches move on; the completed data time never goes back
        bump_generation(client, cfg, stamp.run_id, data_time=stamp.data_time)
    waited = lock.waited_s
    result = InferenceResult(
        table=cfg.table,
        layout=cfg.layout,
        model_name=stamp.model_name,
        model_version=stamp.model_version,
        alias=stamp.alias,
        run_id=stamp.run_id,
        scored_at=stamp.scored_at,
        data_time=stamp.data_time,
        snapshot_uri=source.uri,
        snapshot_sha256=source.sha256,
        rows=counts.get("rows", 0),
        items=stats.items,
        duplicates_dropped=counts.get("duplicates_dropped", 0),
        written=stats.written,
        kept_newer=stats.kept_newer,
        conditional=guard is not None,
        calls=stats.calls,
        retries=stats.retries,
        throttled=stats.throttled,
        unprocessed_resent=stats.unprocessed_resent,
        consumed_wcu=round(stats.consumed_wcu, 3),
        seconds=round(time.perf_counter() - started, 3),
        lock_waited_s=round(waited, 3),
    )
    if plan is not None:
        result["experiment_id"] = plan.experiment_id
        result["challenger_version"] = plan.challenger_version
        result["arms"] = arm_counts(counts)
    return result
