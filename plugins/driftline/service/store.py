"""Reading predictions from DynamoDB: one entity, or many with BatchGetItem."""

from __future__ import annotations

import time
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
    """Lookups in one model's predictions table through a low-level client."""

    def __init__(self, client: Any, cfg: InferenceSection) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self.client = client
        self.cfg = cfg
        self._d = TypeDeserializer()

    def _item(self, raw: dict[str, Any]) -> dict[str, Any]:
        item = {k: plain(self._d.deserialize(v)) for k, v in raw.items()}
        # An A/B experiment writes each item's arm; outside one, the champion scored every entity.
        item.setdefault("arm", "champion")
        return item

    def get(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's prediction (`history`: the newest date's), or None."""
        if entity_id.startswith(META_PREFIX):
            return None
        pk = self.cfg.partition_key
        if self.cfg.layout == "latest":
            raw = self.client.get_item(TableName=self.cfg.table, Key={pk: {"S": entity_id}})
            return self._item(raw["Item"]) if "Item" in raw else None
        page = self.client.query(
            TableName=self.cfg.table,
            KeyConditionExpression="#pk = :id",
            ExpressionAttributeNames={"#pk": pk},
            ExpressionAttributeValues={":id": {"S": entity_id}},
            ScanIndexForward=False,
            Limit=1,
        )
        return self._item(page["Items"][0]) if page["Items"] else None

    def get_many(self, entity_ids: list[str], max_attempts: int = 8) -> dict[str, dict[str, Any]]:
        """{entity_id: prediction} of the ids found (BatchGetItem, unprocessed keys retried)."""
        wanted = [e for e in dict.fromkeys(entity_ids) if not e.startswith(META_PREFIX)]
        if self.cfg.layout == "history":
            found = {e: self.get(e) for e in wanted}
            return {e: v for e, v in found.items() if v is not None}
        pk, out = self.cfg.partition_key, {}
        for start in range(0, len(wanted), 100):
            keys = [{pk: {"S": e}} for e in wanted[start : start + 100]]
            attempt = 0
            while keys:
                attempt += 1
                response = self.client.batch_get_item(RequestItems={self.cfg.table: {"Keys": keys}})
                for raw in response["Responses"].get(self.cfg.table, []):
                    item = self._item(raw)
                    out[str(item[pk])] = item
                keys = (response.get("UnprocessedKeys") or {}).get(self.cfg.table, {}).get("Keys", [])
                if keys:
                    if attempt >= max_attempts:
                        raise RuntimeError(
                            f"{len(keys)} key(s) still unprocessed after {attempt} BatchGetItem calls"
                        )
                    time.sleep(min(1.0, 0.02 * 2**attempt))
        return out
