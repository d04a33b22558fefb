"""The per-model scoring lock: upsert runs of one model write their items one run at a time.

Why a lock rather than a condition on every item: DynamoDB's BatchWriteItem takes no conditions,
and a conditional PutItem per item is one round trip per item (benchmarks/inference.py measures
the cost: `conditional_items_per_s` against `driftline_items_per_s`). Under the lock the run that
holds it knows, from the newest-data marker (driftline.inference.runs), whether any newer data
time was ever claimed: if not, no newer item exists and none can be written while it holds the
lock, so it writes with BatchWriteItem; if so, it writes with conditional PutItems that keep a
newer item (`data_time` greater than its own).

The lock is an item in the predictions table (`__driftline#lock`): `holder` (the Airflow run),
`token` (raised by one on every acquisition: a fencing token) and `expires` (epoch seconds). It is
taken with a conditional UpdateItem (absent, expired, or already ours: a retry of the same run does
not wait out its dead try's lease), renewed by a heartbeat thread every lease/4 (conditional on
holder and token), and released by removing the holder (the item stays: the token never repeats).
`fence()` is called before every write call: it raises LockLostError when a renewal found the lock
taken over, or when the last successful renewal is older than the lease minus `margin_s`, so a
writer that stalls (a paused VM, a lost network) stops before its lease can run out. The
assumption left: one write call completes within `margin_s` (the DynamoDB client's connect and
read timeouts bound it) and the workers' clocks agree within the same margin.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from decimal import Decimal
from types import TracebackType
from typing import Any

from driftline.config.models import InferenceSection
from driftline.exceptions import error_code
from driftline.inference.errors import InferenceError
from driftline.inference.items import meta_key

log = logging.getLogger(__name__)

LOCK = "lock"
LEASE_S = 300.0
MARGIN_S = 90.0


class LockLostError(InferenceError):
    """The scoring lock was lost (taken over, or not renewed in time): the run stopped writing; retry it."""


class LockTimeoutError(InferenceError):
    """Another run of the model held the scoring lock for longer than the wait allows; retry later."""


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    s = TypeSerializer()
    return {k: s.serialize(Decimal(f"{v:.3f}") if isinstance(v, float) else v) for k, v in value.items()}


class ScoringLock:
    """Context manager: hold the model's scoring lock (see the module docs)."""

    def __init__(
        self,
        client: Any,
        cfg: InferenceSection,
        holder: str,
        *,
        lease_s: float = LEASE_S,
        margin_s: float = MARGIN_S,
        wait_s: float = 3600.0,
        clock: Any = time.time,
    ) -> None:
        if margin_s >= lease_s:
            raise ValueError(f"the lock's margin ({margin_s}s) must be shorter than its lease ({lease_s}s)")
        self.client = client
        self.cfg = cfg
        self.holder = holder
        self.lease_s = lease_s
        self.margin_s = margin_s
        self.wait_s = wait_s
        self._clock = clock
        self.token: int | None = None
        self.waited_s = 0.0
        self._valid_until = 0.0  # time.monotonic() deadline of the lease as last renewed
        self._lost = ""
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def key(self) -> dict[str, Any]:
        return _wire(meta_key(self.cfg, LOCK))

    def _take(self) -> int | None:
        started = time.monotonic()
        now = self._clock()
        try:
            response = self.client.update_item(
                TableName=self.cfg.table,
                Key=self.key,
                UpdateExpression="SET #h = :h, #e = :e, #k = :k ADD #t :one",
                ConditionExpression="attribute_not_exists(#h) OR #e < :now OR #h = :h",
                ExpressionAttributeNames={"#h": "holder", "#e": "expires", "#t": "token", "#k": "kind"},
                ExpressionAttributeValues=_wire(
                    {":h": self.holder, ":e": now + self.lease_s, ":now": now, ":one": 1, ":k": LOCK}
                ),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        self._valid_until = started + self.lease_s
        return int(response["Attributes"]["token"]["N"])

    def holder_now(self) -> dict[str, Any] | None:
        raw = self.client.get_item(TableName=self.cfg.table, Key=self.key, ConsistentRead=True).get("Item")
        if not raw:
            return None
        return {k: next(iter(v.values())) for k, v in raw.items()}

    def acquire(self) -> int:
        started = time.monotonic()
        delay = 0.2
        while True:
            token = self._take()
            if token is not None:
                self.token = token
                self.waited_s = time.monotonic() - started
                if self.waited_s > 1:
                    log.info(
                        "scoring lock of %s taken after %.1fs (token %d)",
                        self.cfg.table,
                        self.waited_s,
                        token,
                    )
                self._stop.clear()
                self._beat = threading.Thread(
                    target=self._heartbeat, name=f"driftline-lock-{self.cfg.table}", daemon=True
                )
                self._beat.start()
                return token
            if time.monotonic() - started > self.wait_s:
                other = self.holder_now() or {}
                expires = float(other.get("expires", 0) or 0)
                raise LockTimeoutError(
                    f"run {self.holder} waited {self.wait_s:.0f}s for the scoring lock of table {self.cfg.table!r}: "
                    f"run {other.get('holder')!r} holds it until "
                    f"{dt.datetime.fromtimestamp(expires, dt.UTC).isoformat() if expires else '?'}; "
                    "runs of one model write one at a time (docs/concepts/concurrency.md), retry later"
                )
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter of a retry delay, not a secret
            delay = min(delay * 1.5, 5.0)

    def _renew(self) -> None:
        started = time.monotonic()
        now = self._clock()
        try:
            self.client.update_item(
                TableName=self.cfg.table,
                Key=self.key,
                UpdateExpression="SET #e = :e",
                ConditionExpression="#h = :h AND #t = :t",
                ExpressionAttributeNames={"#h": "holder", "#e": "expires", "#t": "token"},
                ExpressionAttributeValues=_wire(
                    {":h": self.holder, ":e": now + self.lease_s, ":t": self.token}
                ),
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                self._lost = f"the scoring lock of {self.cfg.table!r} was taken over (token {self.token})"
                return
            log.warning("renewing the scoring lock of %s failed: %s", self.cfg.table, exc)
            return
        self._valid_until = started + self.lease_s

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            self._renew()
            if self._lost:
                return

    def fence(self) -> None:
        """Raise LockLostError unless this run still holds the lock with at least `margin_s` to spare."""
        if self.token is None:
            raise LockLostError(f"run {self.holder} does not hold the scoring lock of {self.cfg.table!r}")
        if self._lost:
            raise LockLostError(f"run {self.holder}: {self._lost}; it stopped writing")
        left = self._valid_until - time.monotonic()
        if left < self.margin_s:
            raise LockLostError(
                f"run {self.holder}: the scoring lock of {self.cfg.table!r} was last renewed too long ago "
                f"({left:.0f}s of its lease left, under the {self.margin_s:.0f}s margin); it stopped writing"
            )

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
            self._beat = None
        if self.token is None:
            return
        try:
            self.client.update_item(  # not deleted: the token keeps counting up, never reused
                TableName=self.cfg.table,
                Key=self.key,
                UpdateExpression="REMOVE #h SET #e = :zero",
                ConditionExpression="#h = :h AND #t = :t",
                ExpressionAttributeNames={"#h": "holder", "#t": "token", "#e": "expires"},
                ExpressionAttributeValues=_wire({":h": self.holder, ":t": self.token, ":zero": 0}),
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                log.warning(
                    "releasing the scoring lock of %s failed (it expires by itself): %s", self.cfg.table, exc
                )
        self.token = None

    def __enter__(self) -> ScoringLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
