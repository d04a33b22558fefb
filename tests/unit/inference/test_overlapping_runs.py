"""Overlapping upsert runs of one model: a newer data time always wins per item, and the newest-data
marker and the generation never move backwards, whatever order the runs' writes take."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from driftline.inference.batch import run_batch_inference
from inference_helpers import scan_all

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

D = dt.datetime(2026, 1, 16, tzinfo=dt.UTC)
D1 = D + dt.timedelta(days=1)


class GatedClient:
    """A real client whose first item write (BatchWriteItem, or PutItem of a non-meta item) waits:
    `at_write` is set when it gets there, then it waits for `go` (at most `timeout` seconds)."""

    def __init__(self, client: Any, go: threading.Event, timeout: float) -> None:
        self._client = client
        self.go = go
        self.timeout = timeout
        self.at_write = threading.Event()
        self._once = threading.Lock()
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _gate(self) -> None:
        with self._once:
            if self._done:
                return
            self._done = True
        self.at_write.set()
        self.go.wait(self.timeout)

    def batch_write_item(self, **kwargs: Any) -> Any:
        self._gate()
        return self._client.batch_write_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        if not str(next(iter(kwargs["Item"].values())).get("S", "")).startswith("__driftline"):
            self._gate()
        return self._client.put_item(**kwargs)


def score(client: Any, config: Any, snapshot: Any, model: Any, day: dt.datetime, version: int) -> Any:
    return run_batch_inference(
        client,
        config,
        snapshot,
        run_id=f"scheduled__{day.date()}",
        data_time=day,
        champion_version=version,
        load_model=lambda v: model,
        lock_options={"lease_s": 20.0, "margin_s": 5.0},
    )


def meta(client: Any, table: str, name: str) -> dict[str, Any]:
    items = scan_all(client, table, meta=True)
    return next(i for i in items if i["entity_id"] == f"__driftline#{name}")


def test_day_d_claiming_first_then_d_plus_1_writing_first_ends_with_d_plus_1(
    ddb, make_config, validated, churn_model
):
    """Run D gets to its first write, stalls there; run D+1 starts and tries to write all its items;
    then D's writes land. Before the scoring lock, D had raised the marker to D and D+1 to D+1,
    both wrote unconditionally, and D's items replaced D+1's while the marker said D+1."""
    config = make_config()
    table = config.inference.table
    d_plus_1_done = threading.Event()
    gated = GatedClient(ddb, d_plus_1_done, timeout=8.0)
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run_d() -> None:
        try:
            results["D"] = score(gated, config, validated, churn_model, D, 4)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=run_d)
    t.start()
    assert gated.at_write.wait(120), "run D never reached its first write"
    try:
        results["D+1"] = score(ddb, config, validated, churn_model, D1, 5)
    finally:
        d_plus_1_done.set()
        t.join(120)
    assert not errors, errors
    items = scan_all(ddb, table)
    assert len(items) == results["D"]["items"] == results["D+1"]["items"]
    assert {i["data_time"] for i in items} == {D1.isoformat()}  # was: D's, every one
    assert {i["model_version"] for i in items} == {5}
    assert meta(ddb, table, "newest")["data_time"] == D1.isoformat()
    generation = meta(ddb, table, "generation")
    assert generation["data_time"] == D1.isoformat() and generation["run_id"] == "scheduled__2026-01-17"
    assert generation["seq"] == 2
    assert results["D+1"]["lock_waited_s"] > 1  # D+1 waited for D's lock: they never wrote at once


def test_d_plus_1_first_then_d_keeps_d_plus_1_and_the_marker_and_generation_never_go_back(
    ddb, make_config, validated, churn_model
):
    config = make_config()
    table = config.inference.table
    newer = score(ddb, config, validated, churn_model, D1, 5)
    older = score(ddb, config, validated, churn_model, D, 4)
    assert older["conditional"] and older["kept_newer"] == older["items"] and older["written"] == 0
    assert {i["data_time"] for i in scan_all(ddb, table)} == {D1.isoformat()}
    assert meta(ddb, table, "newest")["data_time"] == D1.isoformat()
    generation = meta(ddb, table, "generation")
    assert generation["data_time"] == D1.isoformat() and generation["run_id"] == newer["run_id"]
    assert generation["seq"] == 2  # two writes completed: caches move on, the data time does not go back


def test_runs_of_four_days_at_once_end_with_the_newest_days_items(ddb, make_config, validated, churn_model):
    config = make_config()
    days = [D + dt.timedelta(days=i) for i in (2, 0, 3, 1)]
    errors: list[BaseException] = []

    def one(day: dt.datetime) -> None:
        try:
            score(ddb, config, validated, churn_model, day, 10 + day.day)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(day,)) for day in days]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(300)
    assert not errors, errors
    newest = max(days)
    items = scan_all(ddb, config.inference.table)
    assert {i["data_time"] for i in items} == {newest.isoformat()}
    assert {i["model_version"] for i in items} == {10 + newest.day}
    assert meta(ddb, config.inference.table, "newest")["data_time"] == newest.isoformat()
    assert meta(ddb, config.inference.table, "generation")["seq"] == 4


def test_a_run_that_lost_the_lock_stops_writing(ddb, make_config):
    from driftline.inference.lock import LockLostError, ScoringLock

    cfg = make_config().inference
    from driftline.inference.table import ensure_table

    ensure_table(ddb, cfg)
    clock = [1000.0]
    first = ScoringLock(ddb, cfg, "run-a", lease_s=10.0, margin_s=2.0, clock=lambda: clock[0])
    first.acquire()
    first.fence()
    clock[0] += 11  # the lease ran out (a stalled worker): another run takes the lock
    second = ScoringLock(ddb, cfg, "run-b", lease_s=10.0, margin_s=2.0, wait_s=5, clock=lambda: clock[0])
    assert second.acquire() == first.token + 1  # tokens only go up
    first._renew()
    with pytest.raises(LockLostError, match="taken over"):
        first.fence()
    first.release()  # releasing a lost lock leaves the new holder's alone
    second.fence()
    second.release()
    third = ScoringLock(ddb, cfg, "run-c", lease_s=10.0, margin_s=2.0, wait_s=5, clock=lambda: clock[0])
    assert third.acquire() == 3  # released locks keep their token: never reused
    third.release()
