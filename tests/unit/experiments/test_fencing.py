"""Fencing of the experiment store and the registry lock: a delayed writer never writes after a stop.

Forced interleavings with a client proxy that pauses one writer after a chosen call, on a SQLite
MLflow registry. The ABA case: a writer lists the lock's generations, stalls, and creates a generation
name that has come and gone meanwhile (generations are tidied away); it must never hold it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from driftline.experiments.store import (
    ExperimentEndedError,
    finish_experiment,
    get_experiment,
    list_experiments,
    record_decision,
    start_experiment,
)
from driftline.registry import lock as lock_module
from driftline.registry.errors import RegistryLockTimeoutError
from driftline.registry.lock import OWNER_TAG, RegistryLock, generation_name
from driftline.registry.retry import RetryPolicy

QUICK = RetryPolicy(attempts=2, backoff=0.0, budget=0.3, request_timeout=1.0)
SHARES = {"champion": 0.8, "challenger": 0.2}


@pytest.fixture(autouse=True)
def small_clock_skew(monkeypatch):
    monkeypatch.setenv("DRIFTLINE_REGISTRY_CLOCK_SKEW", "0.05")


class Pausing:
    """A client proxy that blocks once right after the n-th call of `method` until released."""

    def __init__(self, real: Any, method: str, nth: int = 1) -> None:
        self.real, self.method, self.nth = real, method, nth
        self.reached, self.resume = threading.Event(), threading.Event()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name != self.method:
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            self.calls += 1
            if self.calls == self.nth:
                self.reached.set()
                self.resume.wait(30)
            return out

        return wrapped


class Access:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.tracking_uri = ""


def start(client: Any, op_key: str, challenger: int = 2) -> Any:
    return start_experiment(
        client, "churn", champion_version=1, challenger_version=challenger, shares=SHARES,
        salt=f"churn:v{challenger}", op_key=op_key, policy=QUICK, lock_ttl=5.0, lock_wait=5.0,
    )  # fmt: skip


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_stale_generation_name_recreated_after_it_was_tidied_away_is_never_held(ab_client, monkeypatch):
    monkeypatch.setattr(lock_module, "KEEP_GENERATIONS", 0)  # tidy every older generation at once
    stalled_client = Pausing(ab_client, "search_registered_models")
    stalled = RegistryLock(Access(stalled_client), "churn", holder="stalled", ttl=5.0, wait=1.0, policy=QUICK)
    thread, out = in_thread(stalled.acquire)
    assert stalled_client.reached.wait(10)  # it has listed: no generation yet, it will create #1
    for who in ("x", "y"):
        with RegistryLock(Access(ab_client), "churn", holder=who, ttl=5.0, policy=QUICK):
            pass  # generations 1 and 2; taking 2 deleted 1
    holder = RegistryLock(Access(ab_client), "churn", holder="z", ttl=5.0, policy=QUICK)
    holder.acquire()  # generation 3, deleting 2
    assert holder.generation == 3
    stalled_client.resume.set()
    thread.join(20)
    assert isinstance(out.get("error"), RegistryLockTimeoutError), out  # it waited for z, never held #1
    assert not stalled.held
    holder.fence()  # z still holds the newest generation
    holder.release()


def test_fence_checks_the_generation_on_every_write_not_only_near_expiry(ab_client):
    holder = RegistryLock(Access(ab_client), "churn", holder="a", ttl=60.0, policy=QUICK)
    holder.acquire()
    holder.fence()
    assert holder.generation is not None
    # a newer generation appears (a writer that broke the lock): the next write must not happen
    ab_client.create_registered_model(
        generation_name("churn", holder.generation + 1), {OWNER_TAG: "someone else"}
    )
    with pytest.raises(RegistryLockTimeoutError, match="superseded"):
        holder.fence()


def test_a_delayed_writer_after_a_stop_and_a_restart_writes_nothing(ab_client, monkeypatch):
    """The evaluation of experiment #1 lists the lock, stalls; #1 is stopped and #2 started; the stalled
    writer resumes (re-creating a tidied generation name): #1 stays stopped and gets no decision."""
    monkeypatch.setattr(lock_module, "KEEP_GENERATIONS", 0)
    first = start(ab_client, "pipeline/run-1")
    stalled_client = Pausing(ab_client, "search_registered_models")
    thread, out = in_thread(
        lambda: record_decision(
            stalled_client,
            "churn",
            first.id,
            {"action": "promote", "reason": "late"},
            op_key="evaluate/run-5",
            policy=QUICK,
            lock_ttl=5.0,
            lock_wait=5.0,
            evaluation={"arms": {}},
        )
    )
    assert stalled_client.reached.wait(10)
    finish_experiment(
        ab_client, "churn", first.id, "stopped", "guardrail breached", op_key="evaluate/run-4",
        policy=QUICK, lock_ttl=5.0,
    )  # fmt: skip
    second = start(ab_client, "pipeline/run-6", challenger=3)
    stalled_client.resume.set()
    thread.join(20)
    assert isinstance(out.get("error"), ExperimentEndedError), out
    stopped = get_experiment(ab_client, "churn", first.id)
    assert stopped.status == "stopped" and stopped.decisions == [] and stopped.last_evaluation == {}
    assert [e.status for e in list_experiments(ab_client, "churn")] == ["stopped", "running"]
    assert get_experiment(ab_client, "churn", second.id).running


def test_a_writer_whose_lease_ran_out_mid_write_cannot_revive_a_stopped_experiment(ab_client):
    first = start(ab_client, "pipeline/run-1")
    stalled_client = Pausing(ab_client, "get_registered_model", nth=1)
    thread, out = in_thread(
        lambda: record_decision(
            stalled_client,
            "churn",
            first.id,
            {"action": "continue", "reason": "late"},
            op_key="evaluate/run-5",
            policy=QUICK,
            lock_ttl=1.0,
            lock_wait=5.0,
            evaluation={"arms": {}},
        )
    )
    assert stalled_client.reached.wait(10)  # it read #1 (running) under its lock, then stalls
    time.sleep(1.2)  # its lease runs out
    finish_experiment(
        ab_client, "churn", first.id, "stopped", "stopped by hand", op_key="ops/1", policy=QUICK, lock_ttl=5.0
    )
    start(ab_client, "pipeline/run-6", challenger=3)
    stalled_client.resume.set()
    thread.join(20)
    assert isinstance(out.get("error"), RegistryLockTimeoutError), out
    assert get_experiment(ab_client, "churn", first.id).status == "stopped"
    assert get_experiment(ab_client, "churn", first.id).decisions == []


def test_no_write_of_any_kind_reaches_an_ended_experiment(ab_client):
    first = start(ab_client, "pipeline/run-1")
    finish_experiment(ab_client, "churn", first.id, "halted", "srm", op_key="e/1", policy=QUICK)
    with pytest.raises(ExperimentEndedError, match="has ended"):
        record_decision(ab_client, "churn", first.id, {"action": "promote"}, op_key="e/2", policy=QUICK)
    from driftline.experiments.store import add_waiting

    with pytest.raises(ExperimentEndedError):
        add_waiting(ab_client, "churn", first.id, 5, op_key="g/3", reason="x", policy=QUICK)
    assert get_experiment(ab_client, "churn", first.id).status == "halted"
