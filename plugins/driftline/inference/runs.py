"""Run records and the newest-data marker: what makes reruns converge and never go back in time.

- A **run record** (`__driftline#run#<run_id>`) is written once per Airflow run, before any item:
  the champion version resolved and the scored-at time. A retry of the same run reads it back and
  scores with the same version and stamps, so its items are identical to the first try's.
- The **newest marker** (`__driftline#newest`, `latest` layout only) holds the newest data time
  any run has claimed. A run raises it (conditionally: it never moves backwards) under the model's
  scoring lock (driftline.inference.lock), before writing. A run whose data time is older than the
  marker (a backfill, a rerun of an earlier date, a run that lost the race to the lock) writes with
  conditional PutItems that keep an item whose `data_time` is newer; every other run uses
  BatchWriteItem, which is safe because no newer item exists and no other run writes while it
  holds the lock. DynamoDB has no conditions on BatchWriteItem, hence this split.
  The `history` layout needs no marker: different dates are different keys.
- The **generation** (`__driftline#generation`, both layouts) counts the runs whose write has
  completed: `seq` goes up by one after a run's last item is written (so it never goes back), and
  `data_time`/`run_id`/`completed_at` name the newest data time whose write completed (set only
  when newer: an older run completing late does not move it back). The predictions service keys
  its response cache by `seq` (driftline.service.generation), so answers cached before a run
  completed are dropped once the service re-reads it.
The concurrency model (which steps of which runs may overlap) is in docs/concepts/concurrency.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from driftline.config.models import InferenceSection
from driftline.exceptions import error_code
from driftline.inference.items import RunStamp, meta_key

log = logging.getLogger(__name__)


def from_wire(raw: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item in attribute-value form (`{"S": ...}`) as plain Python values."""
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in raw.items()}


def to_wire(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values as a DynamoDB item in attribute-value form (boto3's TypeSerializer)."""
    from boto3.dynamodb.types import TypeSerializer

    s = TypeSerializer()
    return {k: s.serialize(v) for k, v in item.items()}


def record_run(client: Any, cfg: InferenceSection, proposed: RunStamp) -> RunStamp:
    """Write the run record if absent; return what the run decided first (a retry reuses it)."""
    key = meta_key(cfg, f"run#{proposed.run_id}")
    try:
        client.put_item(
            TableName=cfg.table,
            Item=to_wire({**key, **proposed.to_dict(), "kind": "run"}),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": cfg.partition_key},
        )
        return proposed
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    raw = client.get_item(TableName=cfg.table, Key=to_wire(key), ConsistentRead=True)["Item"]
    item = from_wire(raw)
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
    raw = client.get_item(
        TableName=cfg.table, Key=to_wire(meta_key(cfg, f"run#{run_id}")), ConsistentRead=True
    )
    return from_wire(raw["Item"]) if "Item" in raw else None


def raise_newest(client: Any, cfg: InferenceSection, data_time: str) -> str | None:
    """Raise the newest marker to `data_time`; returns the newer value already there, else None."""
    key = meta_key(cfg, "newest")
    try:
        client.update_item(
            TableName=cfg.table,
            Key=to_wire(key),
            UpdateExpression="SET data_time = :t, kind = :kind",
            ConditionExpression="attribute_not_exists(data_time) OR data_time <= :t",
            ExpressionAttributeValues={":t": {"S": data_time}, ":kind": {"S": "newest"}},
        )
        return None
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    raw = client.get_item(TableName=cfg.table, Key=to_wire(key), ConsistentRead=True)["Item"]
    return str(from_wire(raw)["data_time"])


GENERATION = "generation"


def bump_generation(
    client: Any,
    cfg: InferenceSection,
    run_id: str,
    now: dt.datetime | None = None,
    data_time: str | None = None,
) -> int:
    """Count one more completed write into the table (call after its last item); the new `seq`.

    With `data_time`, the generation's `data_time`, `run_id` and `completed_at` move to this run
    unless a newer data time already completed (a conditional update: never backwards)."""
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
    key = to_wire(meta_key(cfg, GENERATION))
    if data_time is not None:
        try:
            client.update_item(
                TableName=cfg.table,
                Key=key,
                UpdateExpression="SET #t = :t, #run = :run, #at = :at",
                ConditionExpression="attribute_not_exists(#t) OR #t <= :t",
                ExpressionAttributeNames={"#t": "data_time", "#run": "run_id", "#at": "completed_at"},
                ExpressionAttributeValues={":t": {"S": data_time}, ":run": {"S": run_id}, ":at": {"S": at}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            log.info(
                "a newer data time than %s already completed in %s: the generation keeps it",
                data_time,
                cfg.table,
            )
    response = client.update_item(
        TableName=cfg.table,
        Key=key,
        UpdateExpression="SET #kind = :kind ADD #seq :one",
        ExpressionAttributeNames={"#kind": "kind", "#seq": "seq"},
        ExpressionAttributeValues={":kind": {"S": GENERATION}, ":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["seq"]["N"])


def read_newest(client: Any, cfg: InferenceSection) -> str | None:
    """The newest-data marker's data time (the newest any run claimed), or None."""
    raw = client.get_item(TableName=cfg.table, Key=to_wire(meta_key(cfg, "newest")), ConsistentRead=True)
    item = raw.get("Item")
    return str(from_wire(item)["data_time"]) if item and "data_time" in item else None


def read_generation(client: Any, cfg: InferenceSection, consistent: bool = False) -> int | None:
    """The table's generation `seq`, or None before a run of this version has completed a write."""
    raw = client.get_item(
        TableName=cfg.table,
        Key=to_wire(meta_key(cfg, GENERATION)),
        ProjectionExpression="#seq",
        ExpressionAttributeNames={"#seq": "seq"},
        ConsistentRead=consistent,
    )
    item = raw.get("Item")
    return int(item["seq"]["N"]) if item and "seq" in item else None
