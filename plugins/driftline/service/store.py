"""Reading predictions from DynamoDB: one entity, or many with BatchGetItem, and the table's generation.

In snapshot mode the table to read is the one the pointer item names (driftline.inference.snapshot);
the service re-reads it (and in upsert mode the table's generation item) at most every
`pointer_ttl_s` seconds (driftline.service.generation), so readers move to a new import within that
time and keep reading the old table (kept for `retention_hours`) until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any

from driftline.config.models import InferenceSection
from driftline.inference.items import META_PREFIX


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-ready Python (Decimal -> int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value


class PredictionStore:
    """Lookups in one model's predictions table through a low-level client (thread-safe: boto3's
    clients are)."""

    def __init__(
        self, client: Any, cfg: InferenceSection, wall_clock: Callable[[], float] = time.time
    ) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self.client = client
        self.cfg = cfg
        self.wall_clock = wall_clock
        self._d = TypeDeserializer()

    def read_generation(self) -> tuple[str | None, Hashable | None]:
        """(the table lookups read, what changes with its content), read now.

        Snapshot mode: the pointer's table, twice (None before the first import has switched it).
        Upsert mode: the configured table and its generation seq (None before a run that writes
        one has completed: such answers are not cached).
        """
        from driftline.exceptions import error_code
        from driftline.inference.runs import read_generation
        from driftline.inference.snapshot import read_pointer

        snapshot = self.cfg.mode == "snapshot"
        try:
            if snapshot:
                pointer = read_pointer(self.client, self.cfg, consistent=False)
                table = str(pointer["table"]) if pointer else None
                return table, table
            return self.cfg.table, read_generation(self.client, self.cfg)
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            # no run has created the table yet: nothing to serve (snapshot), nothing to cache (upsert)
            return (None, None) if snapshot else (self.cfg.table, None)

    def expires_at(self, item: dict[str, Any]) -> float | None:
        """The item's TTL (epoch seconds, `inference.ttl_attribute`), or None when it has none."""
        value = item.get(self.cfg.ttl_attribute)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def expired(self, item: dict[str, Any], now: float | None = None) -> bool:
        """DynamoDB deletes expired items lazily (up to days late): an item whose TTL has passed is
        treated as gone, never served."""
        expiry = self.expires_at(item)
        return expiry is not None and expiry <= (self.wall_clock() if now is None else now)

    def _item(self, raw: dict[str, Any]) -> dict[str, Any]:
        item = {k: plain(self._d.deserialize(v)) for k, v in raw.items()}
        # An A/B experiment writes each item's arm; outside one, the champion scored every entity.
        item.setdefault("arm", "champion")
        return item

    def get_from(self, table: str | None, entity_id: str, consistent: bool = False) -> dict[str, Any] | None:
        """The entity's prediction in `table` (`history`: the newest date's), or None (also when that
        item has expired: an older day's item of a history table is not served in its place)."""
        if entity_id.startswith(META_PREFIX) or table is None:
            return None
        pk = self.cfg.partition_key
        if self.cfg.layout == "latest":
            raw = self.client.get_item(TableName=table, Key={pk: {"S": entity_id}}, ConsistentRead=consistent)
            item = self._item(raw["Item"]) if "Item" in raw else None
            return None if item is None or self.expired(item) else item
        page = self.client.query(
            TableName=table,
            KeyConditionExpression="#pk = :id",
            ExpressionAttributeNames={"#pk": pk},
            ExpressionAttributeValues={":id": {"S": entity_id}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=consistent,
        )
        item = self._item(page["Items"][0]) if page["Items"] else None
        return None if item is None or self.expired(item) else item

    def get_many_from(
        self, table: str | None, entity_ids: list[str], consistent: bool = False, max_attempts: int = 8
    ) -> dict[str, dict[str, Any]]:
        """{entity_id: prediction} of the ids found in `table` (BatchGetItem, unprocessed keys retried)."""
        wanted = [e for e in dict.fromkeys(entity_ids) if not e.startswith(META_PREFIX)]
        if table is None:
            return {}
        if self.cfg.layout == "history":
            found = {e: self.get_from(table, e, consistent) for e in wanted}
            return {e: v for e, v in found.items() if v is not None}
        pk, out = self.cfg.partition_key, {}
        for start in range(0, len(wanted), 100):
            keys = [{pk: {"S": e}} for e in wanted[start : start + 100]]
            attempt = 0
            while keys:
                attempt += 1
                response = self.client.batch_get_item(
                    RequestItems={table: {"Keys": keys, "ConsistentRead": consistent}}
                )
                for raw in response["Responses"].get(table, []):
                    item = self._item(raw)
                    if not self.expired(item):
                        out[str(item[pk])] = item
                keys = (response.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", [])
                if keys:
                    if attempt >= max_attempts:
                        raise RuntimeError(
                            f"{len(keys)} key(s) still unprocessed after {attempt} BatchGetItem calls"
                        )
                    time.sleep(min(1.0, 0.02 * 2**attempt))
        return out
