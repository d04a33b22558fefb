"""One snapshot-mode run: start (decide, score, export, ImportTable) and finish (check, switch, retain).

The two halves are split where the operator defers: `start_snapshot_run` returns a plain dict the
trigger's completion hands to `finish_snapshot_run`. Both are idempotent per Airflow run: facts
are recorded in the run record before the next step acts (see driftline.inference.snapshot).

During an A/B experiment the run's ArmPlan is recorded with the decision (`RunStamp.arms`), as in
upsert mode, and the items per arm with the export's counts: a retry at any stage (after the
export, after ImportTable started, after the import finished) splits, scores and reports exactly
as the first try did.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

from driftline.config.models import ModelConfig
from driftline.inference.arms import ArmPlan
from driftline.inference.batch import ScoredBatch
from driftline.inference.errors import InferenceError, InferenceInputError
from driftline.inference.items import RunStamp
from driftline.inference.runs import decide_run, read_run
from driftline.inference.scoring import arm_counts, score_items, verify_snapshot
from driftline.inference.snapshot import (
    check_import,
    describe_import,
    enable_ttl,
    export_prefix,
    find_import,
    record_import,
    run_table_name,
    start_import,
    switch_pointer,
    table_exists,
    write_export,
)
from driftline.inference.table import check_key_schema, ensure_table

log = logging.getLogger(__name__)


class SnapshotStart(TypedDict):
    """What the deferred half needs (JSON-serializable: it travels through the trigger)."""

    table: str
    pointer_table: str
    import_arn: str
    import_status: str
    export_uri: str
    export_items: int
    export_files: int
    export_bytes: int
    rows: int
    duplicates_dropped: int
    stamp: dict[str, Any]
    snapshot_uri: str
    snapshot_sha256: str
    resumed: bool
    seconds: float
    experiment_id: NotRequired[int]
    challenger_version: NotRequired[int]
    arms: NotRequired[dict[str, int]]


class SnapshotResult(ScoredBatch):
    """score_and_write's XCom payload in snapshot mode."""

    mode: str
    pointer_table: str
    export_uri: str
    export_files: int
    export_bytes: int
    import_arn: str
    switched: bool
    previous_table: str | None
    dropped_tables: list[str]
    consumed_wcu: float
    retries: int
    seconds: float
    experiment_id: NotRequired[int]
    challenger_version: NotRequired[int]
    arms: NotRequired[dict[str, int]]


def start_snapshot_run(
    client: Any,
    config: ModelConfig,
    snapshot: dict[str, Any],
    *,
    run_id: str,
    data_time: dt.datetime,
    champion_version: int,
    load_model: Callable[[int], Any],
    path_of: Callable[[str], Any],
    alias: str = "champion",
    scored_at: dt.datetime | None = None,
    experiment: ArmPlan | None = None,
) -> SnapshotStart:
    """Record the decision, export the items to S3 and start ImportTable (or find the run's import).

    `experiment`: the running A/B experiment's arms, recorded with the decision; a retry uses the
    recorded plan (or none), whatever it is handed.
    """
    cfg = config.inference
    if cfg is None or cfg.mode != "snapshot":
        raise InferenceInputError(f"model {config.model.name!r} has no snapshot-mode inference section")
    started = time.perf_counter()
    source = verify_snapshot(snapshot)
    ensure_table(client, cfg)  # the pointer table: meta items only in this mode
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
    plan = ArmPlan.from_json(stamp.arms) if stamp.arms else None
    table = run_table_name(cfg, stamp)
    prefix = export_prefix(cfg, table)
    record = read_run(client, cfg, run_id) or {}
    resumed = True
    arn = str(record.get("import_arn") or "")
    if not arn:
        existing = table_exists(client, table)
        if existing is not None:
            found = find_import(client, str(existing.get("TableArn", "")))
            if found is None or "export_items" not in record:
                raise InferenceError(
                    f"table {table!r} exists but run {run_id} recorded no import into it (a try killed "
                    "between ImportTable and recording it, and ListImports did not find it): delete the "
                    "table and retry"
                )
            arn = found
            record_import(client, cfg, run_id, {"import_arn": arn})
        else:
            resumed = False
            counts: dict[str, int] = {}
            model = load_model(stamp.model_version)
            arms = (plan, load_model(plan.challenger_version)) if plan is not None else None
            export = write_export(score_items(model, source, config, stamp, counts, arms), prefix, path_of)
            if export.items == 0:
                raise InferenceInputError(f"snapshot {source.uri} has no rows to score: nothing to import")
            record = {
                "run_table": table,
                "export_uri": export.uri,
                "export_items": export.items,
                "export_files": export.files,
                "export_bytes": export.bytes,
                "rows": counts.get("rows", 0),
                "duplicates_dropped": counts.get("duplicates_dropped", 0),
            }
            if plan is not None:
                record["arm_counts"] = arm_counts(counts)
            record_import(client, cfg, run_id, record)
            log.info("exported %d item(s) in %d file(s) to %s", export.items, export.files, export.uri)
            arn = str(start_import(client, cfg, table, prefix)["ImportArn"])
            record_import(client, cfg, run_id, {"import_arn": arn})
            log.info("ImportTable %s into %s started", arn, table)
    status = str(describe_import(client, arn).get("ImportStatus"))
    start = SnapshotStart(
        table=table,
        pointer_table=cfg.table,
        import_arn=arn,
        import_status=status,
        export_uri=str(record.get("export_uri", prefix)),
        export_items=int(record.get("export_items", 0)),
        export_files=int(record.get("export_files", 0)),
        export_bytes=int(record.get("export_bytes", 0)),
        rows=int(record.get("rows", 0)),
        duplicates_dropped=int(record.get("duplicates_dropped", 0)),
        stamp=stamp.to_dict(),
        snapshot_uri=source.uri,
        snapshot_sha256=source.sha256,
        resumed=resumed,
        seconds=round(time.perf_counter() - started, 3),
    )
    if plan is not None:
        if "arm_counts" not in record:
            raise InferenceError(
                f"run {run_id} recorded A/B experiment #{plan.experiment_id} but no items per arm with its "
                f"export: delete table {table!r} (if any) and the run record, then retry"
            )
        start["experiment_id"] = plan.experiment_id
        start["challenger_version"] = plan.challenger_version
        start["arms"] = {str(k): int(v) for k, v in dict(record["arm_counts"]).items()}
    return start


def finish_snapshot_run(
    client: Any, config: ModelConfig, start: SnapshotStart | dict[str, Any], now: dt.datetime | None = None
) -> SnapshotResult:
    """Check the finished import, switch TTL on, switch the pointer and drop retired tables."""
    cfg = config.inference
    if cfg is None:
        raise InferenceInputError(f"model {config.model.name!r} has no inference section")
    started = time.perf_counter()
    stamp = RunStamp(**start["stamp"])
    table = str(start["table"])
    imported = check_import(describe_import(client, str(start["import_arn"])), int(start["export_items"]))
    description = table_exists(client, table)
    if description is None:
        raise InferenceError(f"import {start['import_arn']} completed but table {table!r} does not exist")
    check_key_schema(cfg, description)
    enable_ttl(client, cfg, table)
    switch = switch_pointer(client, cfg, table, stamp, (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    if switch.switched:
        log.info("pointer %s -> %s (was %s)", cfg.table, table, switch.previous)
    result = SnapshotResult(
        mode="snapshot",
        table=table,
        pointer_table=cfg.table,
        layout=cfg.layout,
        model_name=stamp.model_name,
        model_version=stamp.model_version,
        alias=stamp.alias,
        run_id=stamp.run_id,
        scored_at=stamp.scored_at,
        data_time=stamp.data_time,
        snapshot_uri=str(start["snapshot_uri"]),
        snapshot_sha256=str(start["snapshot_sha256"]),
        rows=int(start["rows"]),
        items=int(start["export_items"]),
        duplicates_dropped=int(start["duplicates_dropped"]),
        written=imported,
        export_uri=str(start["export_uri"]),
        export_files=int(start["export_files"]),
        export_bytes=int(start["export_bytes"]),
        import_arn=str(start["import_arn"]),
        switched=switch.switched,
        previous_table=switch.previous,
        dropped_tables=switch.dropped,
        consumed_wcu=0.0,
        retries=0,
        seconds=round(float(start.get("seconds", 0.0)) + time.perf_counter() - started, 3),
    )
    if "experiment_id" in start:
        result["experiment_id"] = int(start["experiment_id"])
        result["challenger_version"] = int(start["challenger_version"])
        result["arms"] = {str(k): int(v) for k, v in dict(start["arms"]).items()}
    return result
