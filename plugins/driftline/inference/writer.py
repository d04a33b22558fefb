"""The upsert writer: BatchWriteItem, 25 items per call, several threads, retries with backoff.

`UnprocessedItems` are re-sent and throttling errors retried with capped, fully jittered
exponential backoff (tenacity), per batch, up to `max_attempts` calls; boto3's `batch_writer`
re-sends at once with no backoff (boto3 #4150). Consumed write units are summed from
`ReturnConsumedCapacity=TOTAL`. Items that are still unwritten when a batch's tries run out are
counted, and `write` raises `WriteIncompleteError` naming how many. Any other error (a
validation error, a killed connection) stops the write and propagates: the caller reruns, and
deterministic keys make the rerun converge.

`guard` turns a batch into conditional PutItems that keep a newer item: used when a run writes
data older than what the table already holds (see driftline.inference.runs). `fence` (the scoring
lock's, driftline.inference.lock) is checked before every call: a run that lost the lock stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any

from driftline.exceptions import error_code
from driftline.inference.errors import WriteIncompleteError
from driftline.inference.items import Item

log = logging.getLogger(__name__)

BATCH_SIZE = 25
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


@dataclass
class WriteStats:
    """What one `write` did; `consumed_wcu` is the sum DynamoDB reported."""

    items: int = 0
    written: int = 0
    unwritten: int = 0
    kept_newer: int = 0
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    unprocessed_resent: int = 0
    consumed_wcu: float = 0.0
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, other: BatchOutcome) -> None:
        with self._lock:
            for f in fields(other):
                if f.name != "last_error":
                    setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
            if other.last_error:
                self.last_error = other.last_error

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
        data["consumed_wcu"] = round(self.consumed_wcu, 3)
        return data


@dataclass
class BatchOutcome:
    written: int = 0
    unwritten: int = 0
    kept_newer: int = 0
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    unprocessed_resent: int = 0
    consumed_wcu: float = 0.0
    last_error: str = ""


@dataclass(frozen=True)
class Guard:
    """Keep an existing item whose `attribute` is greater than `value` (conditional PutItem)."""

    key_attribute: str
    attribute: str
    value: str


class _Retry(Exception):
    """A batch has items left to send after a throttle or a partial write."""


def _wcu(response: dict[str, Any]) -> float:
    capacity = response.get("ConsumedCapacity")
    if isinstance(capacity, dict):
        capacity = [capacity]
    return float(sum(float(c.get("CapacityUnits", 0.0)) for c in capacity or []))


def batches(items: Iterable[Item], size: int = BATCH_SIZE) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class BatchWriter:
    """Writes items to one table with `writers` threads; see the module docstring."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        writers: int = 8,
        max_attempts: int = 10,
        base_delay_s: float = 0.05,
        max_delay_s: float = 5.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from boto3.dynamodb.types import TypeSerializer

        self.client = client
        self.table = table
        self.writers = writers
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._serializer = TypeSerializer()
        self._fence: Callable[[], None] | None = None

    def serialize(self, item: Item) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def write(
        self, items: Iterable[Item], guard: Guard | None = None, fence: Callable[[], None] | None = None
    ) -> WriteStats:
        """Write every item; raises WriteIncompleteError when some stay unwritten after all tries.

        `fence` is called before every write call (the scoring lock's, driftline.inference.lock): an
        error it raises stops the write at once."""
        self._fence = fence
        stats = WriteStats()
        slots = threading.BoundedSemaphore(self.writers * 2)  # bounded in-flight batches: flat memory
        futures: set[Future[BatchOutcome]] = set()
        with ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="driftline-writer") as pool:
            try:
                for batch in batches(items):
                    stats.items += len(batch)
                    wire = [self.serialize(item) for item in batch]
                    slots.acquire()
                    future = pool.submit(self._guarded if guard else self._batch, wire, guard)
                    future.add_done_callback(lambda _f: slots.release())
                    futures.add(future)
                    finished = {f for f in futures if f.done()}
                    for f in finished:
                        stats.add(f.result())  # re-raises a fatal error at once
                    futures -= finished
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for f in done:
                    stats.add(f.result())
                futures -= done
                for f in futures:
                    stats.add(f.result())
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        if stats.unwritten:
            raise WriteIncompleteError(self.table, stats.unwritten, stats.items, stats.last_error)
        return stats

    def _retrying(self) -> Any:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_random_exponential(multiplier=self.base_delay_s, max=self.max_delay_s),
            retry=retry_if_exception_type(_Retry),
            reraise=False,
            **kwargs,
        )

    def _batch(self, wire: list[dict[str, Any]], guard: Guard | None = None) -> BatchOutcome:
        from botocore.exceptions import ClientError
        from tenacity import RetryError

        out = BatchOutcome()
        pending = [{"PutRequest": {"Item": item}} for item in wire]

        def attempt() -> None:
            nonlocal pending
            if self._fence is not None:
                self._fence()
            out.calls += 1
            try:
                response = self.client.batch_write_item(
                    RequestItems={self.table: pending}, ReturnConsumedCapacity="TOTAL"
                )
            except ClientError as exc:
                code = error_code(exc)
                if code not in THROTTLING_CODES:
                    raise
                out.throttled += 1
                out.last_error = code
                raise _Retry() from exc
            out.consumed_wcu += _wcu(response)
            left = (response.get("UnprocessedItems") or {}).get(self.table) or []
            out.written += len(pending) - len(left)
            if left:
                out.unprocessed_resent += len(left)
                out.last_error = f"{len(left)} UnprocessedItems"
                pending = left
                raise _Retry()
            pending = []

        try:
            for try_ in self._retrying():
                with try_:
                    if try_.retry_state.attempt_number > 1:
                        out.retries += 1
                    attempt()
        except RetryError:
            out.unwritten = len(pending)
        return out

    def _guarded(self, wire: list[dict[str, Any]], guard: Guard | None) -> BatchOutcome:
        """Conditional PutItems: an existing item with a newer `guard.attribute` is kept."""
        from botocore.exceptions import ClientError
        from tenacity import RetryError

        assert guard is not None  # noqa: S101 - narrows the type: the caller passes a guard on this path
        out = BatchOutcome()
        for item in wire:

            def attempt(item: dict[str, Any] = item) -> None:
                if self._fence is not None:
                    self._fence()
                out.calls += 1
                try:
                    response = self.client.put_item(
                        TableName=self.table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(#k) OR #a <= :v",
                        ExpressionAttributeNames={"#k": guard.key_attribute, "#a": guard.attribute},
                        ExpressionAttributeValues={":v": {"S": guard.value}},
                        ReturnConsumedCapacity="TOTAL",
                    )
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "ConditionalCheckFailedException":
                        out.kept_newer += 1
                        return
                    if code not in THROTTLING_CODES:
                        raise
                    out.throttled += 1
                    out.last_error = code
                    raise _Retry() from exc
                out.consumed_wcu += _wcu(response)
                out.written += 1

            try:
                for try_ in self._retrying():
                    with try_:
                        if try_.retry_state.attempt_number > 1:
                            out.retries += 1
                        attempt()
            except RetryError:
                out.unwritten += 1
        return out
