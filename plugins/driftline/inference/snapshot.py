"""Snapshot mode: a full load per run, exported to S3 and imported into a new table, then switched to.

1. The run's decision (champion version, scored-at) is recorded first in the pointer table, as in
   upsert mode (driftline.inference.runs): a retry scores with the same stamps.
2. Items are written as DynamoDB JSON lines (`{"Item": {...}}`, gzip) under
   `<export_uri>/<run table>/data/`, one part per `PART_ITEMS` items, streamed so memory stays flat.
3. `ImportTable` loads them into a new on-demand table named per run, `<table>.<date>.<hash>` (the
   date the window ends and a hash of the Airflow run id), with a ClientToken derived from that
   name: a retry finds the same table and import instead of starting another. The import ARN is
   recorded in the run record as soon as the call returns.
4. Waiting is the caller's (the operator defers to driftline.triggers.dynamodb_import).
5. `finish`: the import's counts are checked against the export's, TTL is switched on, and the
   **pointer item** (`__driftline#pointer` in `inference.table`, which in this mode holds only meta
   items) is switched to the new table unless it already points at newer data (a backfill never
   goes back in time). Replaced tables are listed in the pointer with the time they were replaced
   and dropped once `retention_hours` have passed, so readers holding the old name finish and a
   rollback has a window.

Runs of one model may overlap (docs/concepts/concurrency.md): the pointer update is a read, then a
put conditioned on the pointer naming the table it named when read; a concurrent switch makes the
run read again and re-decide, so the newest data time always ends up named. Replaced tables are
dropped only after that put succeeded, and never the table the pointer names.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftline.config.models import InferenceSection
from driftline.exceptions import error_code
from driftline.inference.errors import InferenceError, InferenceInputError
from driftline.inference.items import Item, RunStamp, meta_key
from driftline.inference.runs import from_wire, to_wire
from driftline.inference.table import describe, expected_keys

log = logging.getLogger(__name__)

PART_ITEMS = 500_000
POINTER = "pointer"
IMPORT_DONE = "COMPLETED"
IMPORT_FAILED = frozenset({"FAILED", "CANCELLING", "CANCELLED"})


class ImportFailedError(InferenceInputError):
    """DynamoDB's import ended FAILED or CANCELLED (bad export data): a retry would repeat it."""


@dataclass(frozen=True)
class ExportStats:
    uri: str
    files: int
    items: int
    bytes: int


def run_table_name(cfg: InferenceSection, stamp: RunStamp) -> str:
    """The per-run table: deterministic from the configured name, the scored date and the run id."""
    digest = hashlib.sha256(f"{stamp.model_name}\n{stamp.run_id}".encode()).hexdigest()[:10]
    suffix = f".{stamp.data_time[:10].replace('-', '')}.{digest}"
    return cfg.table[: 255 - len(suffix)] + suffix


def export_prefix(cfg: InferenceSection, table: str) -> str:
    """Where the run's DynamoDB JSON parts go (ImportTable reads every object under it)."""
    if cfg.export_uri is None:
        raise InferenceInputError("inference.export_uri is required in snapshot mode")
    return f"{cfg.export_uri.rstrip('/')}/{table}/data/"


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URI."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def write_export(
    items: Iterable[Item], prefix: str, path_of: Any, part_items: int = PART_ITEMS
) -> ExportStats:
    """Stream `items` as gzip DynamoDB JSON parts under `prefix`; `path_of(uri)` gives a UPath.

    Stale objects under the prefix (a killed earlier try) are removed first: the import reads
    every object there.
    """
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    root = path_of(prefix)
    for old in list(root.glob("*")) if root.exists() else []:
        old.unlink()
    files = count = size = 0
    out: Any = None
    raw: Any = None
    try:
        for item in items:
            if out is None or (count % part_items == 0 and count):
                if out is not None:
                    out.close()
                    raw.close()
                raw = path_of(f"{prefix}part-{files:05d}.json.gz").open("wb")
                out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0)
                files += 1
            line = json.dumps(
                {"Item": {k: serializer.serialize(v) for k, v in item.items()}}, separators=(",", ":")
            )
            data = line.encode() + b"\n"
            out.write(data)
            size += len(data)
            count += 1
    finally:
        if out is not None:
            out.close()
            raw.close()
    return ExportStats(uri=prefix, files=files, items=count, bytes=size)


def _token(table: str, attempt: str = "") -> str:
    return hashlib.sha256(f"{table}\n{attempt}".encode()).hexdigest()[:36]


def start_import(client: Any, cfg: InferenceSection, table: str, prefix: str) -> dict[str, Any]:
    """ImportTable into the new `table` (on-demand, the configured keys); its description."""
    bucket, key = split_s3(prefix)
    keys = expected_keys(cfg)
    response = client.import_table(
        ClientToken=_token(table),
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": key},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": table,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": n, "KeyType": t} for n, t in keys],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
        },
    )
    return dict(response["ImportTableDescription"])


def find_import(client: Any, table_arn: str) -> str | None:
    """The newest import into `table_arn` (ListImports), for a try killed before recording it."""
    try:
        summaries = client.list_imports(TableArn=table_arn).get("ImportSummaryList", [])
    except Exception as exc:
        log.warning("ListImports for %s failed: %s", table_arn, exc)
        return None
    if not summaries:
        return None
    newest = max(summaries, key=lambda s: str(s.get("StartTime", "")))
    return str(newest["ImportArn"])


def describe_import(client: Any, import_arn: str) -> dict[str, Any]:
    return dict(client.describe_import(ImportArn=import_arn)["ImportTableDescription"])


def record_import(client: Any, cfg: InferenceSection, run_id: str, fields: dict[str, Any]) -> None:
    """Add the run's export/import facts to its run record (written by record_run first)."""
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": v for i, v in enumerate(fields.values())}
    client.update_item(
        TableName=cfg.table,
        Key=to_wire(meta_key(cfg, f"run#{run_id}")),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_wire(values),
    )


def read_pointer(client: Any, cfg: InferenceSection, consistent: bool = True) -> dict[str, Any] | None:
    """The pointer item (`table`, `run_id`, `data_time`, `model_version`, `retired`), or None."""
    raw = client.get_item(TableName=cfg.table, Key=to_wire(meta_key(cfg, POINTER)), ConsistentRead=consistent)
    return from_wire(raw["Item"]) if "Item" in raw else None


@dataclass(frozen=True)
class Switch:
    switched: bool
    current: str
    previous: str | None
    dropped: list[str]
    retired: dict[str, str]


SWITCH_ATTEMPTS = 5


def plan_switch(
    pointer: dict[str, Any] | None, cfg: InferenceSection, table: str, stamp: RunStamp, now: dt.datetime
) -> tuple[bool, str | None, dict[str, Any], list[str]]:
    """(switched, previous, the pointer item to write, tables due for dropping) from a pointer read (pure).

    Due tables stay listed in the item's `retired` map: they are dropped only after this item has
    been written (drop_retired), and leave the map once they are gone."""
    key = meta_key(cfg, POINTER)
    retired: dict[str, str] = dict((pointer or {}).get("retired") or {})
    current = str(pointer["table"]) if pointer else None
    previous = current
    if current == table:
        switched = True  # a retry after the switch: nothing more to do but retention
        fields: dict[str, Any] = dict(pointer or {})
        previous = fields.get("previous")
    elif pointer is not None and str(pointer.get("data_time", "")) > stamp.data_time:
        log.warning(
            "pointer already at %s (data up to %s), newer than this run's %s: %s is kept only until retention",
            current,
            pointer.get("data_time"),
            stamp.data_time,
            table,
        )
        switched = False
        retired.setdefault(table, now.isoformat())
        fields = dict(pointer)
    else:
        switched = True
        if current is not None:
            retired[current] = now.isoformat()
        retired.pop(table, None)
        fields = {
            **key,
            "kind": POINTER,
            "table": table,
            "run_id": stamp.run_id,
            "data_time": stamp.data_time,
            "model_name": stamp.model_name,
            "model_version": stamp.model_version,
            "switched_at": now.isoformat(),
            "previous": current,
        }
    cutoff = now - dt.timedelta(hours=cfg.retention_hours)
    due = sorted(
        name
        for name, replaced_at in retired.items()
        if name != fields.get("table") and dt.datetime.fromisoformat(replaced_at) <= cutoff
    )
    fields["retired"] = retired
    return switched, previous, fields, due


def switch_pointer(
    client: Any,
    cfg: InferenceSection,
    table: str,
    stamp: RunStamp,
    now: dt.datetime,
) -> Switch:
    """Point readers at `table` unless the pointer holds newer data; then drop tables past retention.

    The pointer is written with a compare-and-set on the table it named when read; a concurrent
    switch by another run makes it read again and re-decide (up to SWITCH_ATTEMPTS times). Retired
    tables are dropped only once the switch has been written, never the table the pointer names
    (drop_retired), so with `retention_hours: 0` the pointer never names a dropped table.
    """
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        pointer = read_pointer(client, cfg)
        switched, previous, fields, due = plan_switch(pointer, cfg, table, stamp, now)
        condition: dict[str, Any]
        if pointer is None:
            condition = {
                "ConditionExpression": "attribute_not_exists(#t)",
                "ExpressionAttributeNames": {"#t": "table"},
            }
        else:
            condition = {
                "ConditionExpression": "#t = :t",
                "ExpressionAttributeNames": {"#t": "table"},
                "ExpressionAttributeValues": {":t": {"S": str(pointer["table"])}},
            }
        try:
            client.put_item(TableName=cfg.table, Item=to_wire(fields), **condition)
            break
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if attempt == SWITCH_ATTEMPTS:
                raise InferenceError(
                    f"the pointer in {cfg.table!r} changed under run {stamp.run_id} {attempt} times while it "
                    "switched it: other runs of this model keep switching; retry"
                ) from exc
            log.info(
                "the pointer in %s changed while run %s switched it: reading it again",
                cfg.table,
                stamp.run_id,
            )
    dropped = drop_retired(client, cfg, due)
    retired = {k: v for k, v in dict(fields["retired"]).items() if k not in dropped}
    return Switch(switched, str(fields["table"]), previous, dropped, retired)


def drop_retired(client: Any, cfg: InferenceSection, names: Iterable[str]) -> list[str]:
    """Drop retired tables, each unless the pointer (read again, consistently) names it, and take each
    one dropped out of the pointer's `retired` map; the names dropped."""
    dropped = []
    for name in names:
        pointer = read_pointer(client, cfg)
        if pointer is not None and str(pointer.get("table")) == name:
            log.warning("not dropping %s: the pointer in %s names it", name, cfg.table)
            continue
        drop_table(client, name)
        dropped.append(name)
        if pointer is not None and name in dict(pointer.get("retired") or {}):
            try:
                client.update_item(
                    TableName=cfg.table,
                    Key=to_wire(meta_key(cfg, POINTER)),
                    UpdateExpression="REMOVE #r.#n",
                    ConditionExpression="attribute_exists(#r.#n)",
                    ExpressionAttributeNames={"#r": "retired", "#n": name},
                )
            except Exception as exc:  # another run rewrote the map meanwhile: its next drop tidies it
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
    return dropped


def drop_table(client: Any, name: str) -> None:
    try:
        client.delete_table(TableName=name)
        log.info("dropped retired predictions table %s", name)
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise


def check_import(description: dict[str, Any], exported: int) -> int:
    """The imported item count; raises unless the import completed with every exported item."""
    status = description.get("ImportStatus")
    if status in IMPORT_FAILED:
        raise ImportFailedError(
            f"DynamoDB import {description.get('ImportArn')} ended {status}: "
            f"{description.get('FailureCode')} {description.get('FailureMessage')}"
        )
    if status != IMPORT_DONE:
        raise InferenceError(f"DynamoDB import {description.get('ImportArn')} is still {status}")
    imported = int(description.get("ImportedItemCount") or 0)
    errors = int(description.get("ErrorCount") or 0)
    if errors or imported != exported:
        raise ImportFailedError(
            f"DynamoDB import {description.get('ImportArn')} imported {imported} of {exported} exported item(s) "
            f"with {errors} error(s)"
        )
    return imported


def enable_ttl(client: Any, cfg: InferenceSection, table: str) -> None:
    """ImportTable cannot set TTL: switch it on once the table is active."""
    if cfg.ttl_days is None:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    try:
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": cfg.ttl_attribute}
        )
    except Exception as exc:
        if "already enabled" not in str(exc).lower():
            raise


def table_exists(client: Any, table: str) -> dict[str, Any] | None:
    return describe(client, table)
