"""Run records and the newest-data marker: what makes reruns converge and never go back in time.

- A **run record** (`__driftline#run#<run_id>`) is written once per Airflow run, before any item:
  the champion version resolved and the scored-at time. A retry of the same run reads it back and
  scores with the same version and stamps, so its items are identical to the first try's.
- The **newest marker** (`__driftline#newest`, `latest` layout only) holds the newest data time
  any run has written. It is raised (conditionally) before writing. A run whose data time is
  older than the marker (a backfill or a rerun of an earlier date) writes with conditional
  PutItems that keep an item whose `data_time` is newer; every other run uses BatchWriteItem.
  DynamoDB has no conditions on BatchWriteItem, hence this split. Runs of one model do not
  overlap (`max_active_runs=1`), which is what makes the marker check race-free.
The `history` layout needs no marker: different dates are different keys.
- The **generation** (`__driftline#generation`, both layouts) counts the runs whose write has
  completed: `seq` goes up by one after a run's last item is written (with the run id and the
  time). The predictions service keys its response cache by it (driftline.service.generation),
  so answers cached before a run completed are dropped once the service re-reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from driftline.config.models import InferenceSection
from driftline.inference.items import RunStamp, meta_key
from driftline.inference.writer import error_code

log = logging.getLogger(__name__)


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in raw.items()}


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    s = TypeSerializer()
    return {k: s.serialize(v) for k, v in item.items()}


def record_run(client: Any, cfg: InferenceSection, proposed: RunStamp) -> RunStamp:
    """Write the run record if absent; return what the run decided first (a retry reuses it)."""
    key = meta_key(cfg, f"run#{proposed.run_id}")
    try:
        client.put_item(
            TableName=cfg.table,
            Item=_wire({**key, **proposed.to_dict(), "kind": "run"}),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": cfg.partition_key},
        )
        return proposed
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    raw = client.get_item(TableName=cfg.table, Key=_wire(key), ConsistentRead=True)["Item"]
    item = _plain(raw)
    return RunStamp(
        model_name=str(item["model_name"]),
        model_version=int(item["model_version"]),
        alias=str(item["alias"]),
        run_id=str(item["run_id"]),
        scored_at=str(item["scored_at"]),
        data_time=str(item["data_time"]),
        arms=str(item.get("arms") or ""),
    )


def decide_run(
    client: Any,
    cfg: InferenceSection,
    *,
    model_name: str,
    champion_version: int,
    alias: str,
    run_id: str,
    data_time: dt.datetime,
    scored_at: dt.datetime | None = None,
    arms: str = "",
) -> RunStamp:
    """Record this run's decision (version, stamps, A/B arms as JSON) unless a try already did;
    return the decision the run holds to (a retry gets the first try's, whatever it proposes)."""
    proposed = RunStamp(
        model_name=model_name,
        model_version=int(champion_version),
        alias=alias,
        run_id=run_id,
        scored_at=(scored_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(),
        data_time=data_time.astimezone(dt.UTC).isoformat(),
        arms=arms,
    )
    stamp = record_run(client, cfg, proposed)
    if stamp != proposed:
        log.info(
            "run %s already recorded its decision: version %s as at %s%s",
            run_id,
            stamp.model_version,
            stamp.scored_at,
            ", with its A/B arms" if stamp.arms else "",
        )
    return stamp


def read_run(client: Any, cfg: InferenceSection, run_id: str) -> dict[str, Any] | None:
    raw = client.get_item(TableName=cfg.table, Key=_wire(meta_key(cfg, f"run#{run_id}")), ConsistentRead=True)
    return _plain(raw["Item"]) if "Item" in raw else None


def raise_newest(client: Any, cfg: InferenceSection, data_time: str) -> str | None:
    """Raise the newest marker to `data_time`; returns the newer value already there, else None."""
    key = meta_key(cfg, "newest")
    try:
        client.update_item(
            TableName=cfg.table,
            Key=_wire(key),
            UpdateExpression="SET data_time = :t, kind = :kind",
            ConditionExpression="attribute_not_exists(data_time) OR data_time <= :t",
            ExpressionAttributeValues={":t": {"S": data_time}, ":kind": {"S": "newest"}},
        )
        return None
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    raw = client.get_item(TableName=cfg.table, Key=_wire(key), ConsistentRead=True)["Item"]
    return str(_plain(raw)["data_time"])


GENERATION = "generation"


def bump_generation(client: Any, cfg: InferenceSection, run_id: str, now: dt.datetime | None = None) -> int:
    """Count one more completed write into the table (call after its last item); the new `seq`."""
    response = client.update_item(
        TableName=cfg.table,
        Key=_wire(meta_key(cfg, GENERATION)),
        UpdateExpression="SET #kind = :kind, #run = :run, #at = :at ADD #seq :one",
        ExpressionAttributeNames={"#kind": "kind", "#run": "run_id", "#at": "completed_at", "#seq": "seq"},
        ExpressionAttributeValues={
            ":kind": {"S": GENERATION},
            ":run": {"S": run_id},
            ":at": {"S": (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()},
            ":one": {"N": "1"},
        },
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["seq"]["N"])


def read_generation(client: Any, cfg: InferenceSection, consistent: bool = False) -> int | None:
    """The table's generation `seq`, or None before a run of this version has completed a write."""
    raw = client.get_item(
        TableName=cfg.table,
        Key=_wire(meta_key(cfg, GENERATION)),
        ProjectionExpression="#seq",
        ExpressionAttributeNames={"#seq": "seq"},
        ConsistentRead=consistent,
    )
    item = raw.get("Item")
    return int(item["seq"]["N"]) if item and "seq" in item else None
