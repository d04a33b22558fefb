"""Helpers for the inference tests: fault-injecting DynamoDB clients, table read-backs and the
snapshot mode's deferrable wait."""

from __future__ import annotations

import random
import threading
from typing import Any

from botocore.exceptions import ClientError
from driftline.inference.arms import ArmPlan

EXPORT_BUCKET = "driftline-exports"
# the A/B tests' experiment: challenger v7 on 30%, a no_model holdout of 20% (default prediction 0)
PLAN = ArmPlan(
    experiment_id=4,
    challenger_version=7,
    salt="churn:v7",
    challenger_share=0.3,
    holdout_share=0.2,
    no_model_default=0,
)
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")


class FaultyClient:
    """Wraps a real boto3 DynamoDB client (on a moto server) and injects what moto never returns.

    - `unprocessed`: share of BatchWriteItem calls that write only part of their items and return
      the rest as `UnprocessedItems` (the real server receives only the written part);
    - `throttle`: share of BatchWriteItem calls that raise a throttling ClientError (nothing written);
    - `die_after`: raise a RuntimeError on the n-th BatchWriteItem call (a killed writer).
    """

    def __init__(
        self,
        client: Any,
        unprocessed: float = 0.0,
        throttle: float = 0.0,
        die_after: int | None = None,
        seed: int = 7,
    ) -> None:
        self._client = client
        self.unprocessed = unprocessed
        self.throttle = throttle
        self.die_after = die_after
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.calls = 0
        self.injected_unprocessed = 0
        self.injected_throttles = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            calls = self.calls
            roll_throttle = self._rng.random()
            roll_partial = self._rng.random()
            cut_roll = self._rng.random()
        if self.die_after is not None and calls > self.die_after:
            raise RuntimeError(f"writer killed at BatchWriteItem call {calls}")
        if roll_throttle < self.throttle:
            with self._lock:
                self.injected_throttles += 1
            code = THROTTLE_CODES[calls % len(THROTTLE_CODES)]
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "BatchWriteItem")
        if roll_partial < self.unprocessed:
            [(table, requests)] = kwargs["RequestItems"].items()
            if len(requests) > 1:
                cut = 1 + int(cut_roll * (len(requests) - 1))
                sent, left = requests[:cut], requests[cut:]
                response = self._client.batch_write_item(**{**kwargs, "RequestItems": {table: sent}})
                with self._lock:
                    self.injected_unprocessed += len(left)
                response["UnprocessedItems"] = {table: left}
                return response
        return self._client.batch_write_item(**kwargs)


def scan_all(client: Any, table: str, meta: bool = False) -> list[dict[str, Any]]:
    """Every item of `table` as plain Python values (meta items left out unless `meta`)."""
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items.extend({k: d.deserialize(v) for k, v in raw.items()} for raw in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not meta:
        items = [
            i
            for i in items
            if not any(str(v).startswith("__driftline") for v in i.values() if isinstance(v, str))
        ]
    return items


def wait_for_import(arn: str) -> dict[str, Any]:
    """Run the deferrable wait as the triggerer would: the trigger's first event."""
    import asyncio

    from driftline.triggers.dynamodb_import import DynamoDBImportTrigger

    trigger = DynamoDBImportTrigger(import_arn=arn, waiter_delay=1, waiter_max_attempts=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "driftline.triggers.dynamodb_import.DynamoDBImportTrigger"
    trigger = DynamoDBImportTrigger(**kwargs)  # the triggerer rebuilds it from its serialized form

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


class KilledAtImport:
    """Wraps a real DynamoDB client; the try dies at ImportTable: `before` the call (the export is
    written and recorded, no import), or `after` it returned (the import runs, its ARN unrecorded)."""

    def __init__(self, client: Any, when: str) -> None:
        assert when in ("before", "after")
        self._client = client
        self.when = when
        self.import_arn: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def import_table(self, **kwargs: Any) -> dict[str, Any]:
        if self.when == "before":
            raise RuntimeError("worker killed before ImportTable")
        self.import_arn = self._client.import_table(**kwargs)["ImportTableDescription"]["ImportArn"]
        raise RuntimeError("worker killed after ImportTable returned")


class WithListImports:
    """A real client plus ListImports, which moto does not implement: answered from moto's own
    import records (the moto server runs in this process, on moto's default account)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def list_imports(self, TableArn: str | None = None, **_: Any) -> dict[str, Any]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        imports = dynamodb_backends[DEFAULT_ACCOUNT_ID][self._client.meta.region_name].table_imports
        return {
            "ImportSummaryList": [
                {"ImportArn": i.arn, "TableArn": i.table_arn, "ImportStatus": i.status}
                for i in imports.values()
                if TableArn is None or i.table_arn == TableArn
            ]
        }
