"""The registry lease under forced interleavings, an expired holder and a slow registry.

A SQLite-backed MlflowClient (no server: the interleavings are forced by a proxy client that can
pause or slow any call). Each test checks that writes to the model come from one writer at a time
and that the audit trail is complete (seq 1..n, an unbroken chain of champion moves).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import pytest
from driftline.exceptions import RegistryError
from driftline.registry.audit import history
from driftline.registry.champion import read_aliases
from driftline.registry.errors import RegistryLockTimeoutError
from driftline.registry.lock import LOCK_PREFIX, RegistryLock
from driftline.registry.promotion import commit_aliases, promote
from driftline.registry.retry import RetryPolicy

QUICK = RetryPolicy(attempts=3, backoff=0.01, budget=0.3, request_timeout=0.1)
WRITES = {
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "set_registered_model_tag",
    "delete_registered_model_tag",
    "set_model_version_tag",
}


class Recorder:
    """Shared log of the writes made to the model (not to its lock), in the order they happened."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.guard = threading.Lock()


class SlowClient:
    """A client proxy: every call takes `delay` seconds more; `pause_after` blocks on an event once."""

    def __init__(self, real: Any, who: str, recorder: Recorder, delay: float = 0.0) -> None:
        self.real, self.who, self.recorder, self.delay = real, who, recorder, delay
        self.pause_after: dict[str, tuple[threading.Event, threading.Event]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self.delay)
            out = attr(*args, **kwargs)
            target = str(args[0]) if args else ""
            if name in WRITES and not target.startswith(LOCK_PREFIX):
                with self.recorder.guard:
                    self.recorder.writes.append(self.who)
            if name in self.pause_after:
                reached, resume = self.pause_after.pop(name)
                reached.set()
                resume.wait(30)
            return out

        return wrapped


@pytest.fixture(autouse=True)
def small_clock_skew(monkeypatch):
    monkeypatch.setenv("DRIFTLINE_REGISTRY_CLOCK_SKEW", "0.05")


@pytest.fixture
def sqlite_hook(tmp_path):
    from driftline.mlflow_store import MlflowStore

    return MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def model(sqlite_hook):
    name = f"m_{uuid.uuid4().hex[:8]}"
    client = sqlite_hook.client
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, "s3://bucket/models/m")
    return name


def hook_for(base: Any, who: str, recorder: Recorder, delay: float = 0.0) -> Any:
    from driftline.mlflow_store import MlflowStore

    hook = MlflowStore(base.tracking_uri)
    hook.__dict__["client"] = SlowClient(base.client, who, recorder, delay)
    return hook


def assert_one_writer_at_a_time(writes: list[str]) -> None:
    blocks = [who for who, _ in itertools.groupby(writes)]
    assert len(blocks) == len(set(blocks)), f"writers interleaved: {writes}"


def assert_complete_trail(hook: Any, name: str) -> None:
    entries = history(hook, name)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1)), entries
    moves = [e for e in entries if e.alias == "champion"]
    for before, after in itertools.pairwise(moves):
        assert after.from_version == before.to_version
    if moves:
        assert read_aliases(hook, name)["champion"] == moves[-1].to_version


def test_an_expired_holder_is_fenced_and_writes_nothing(sqlite_hook, model):
    """A holder that stalls past its lease loses it to the next writer and cannot write afterwards."""
    recorder = Recorder()
    slow = hook_for(sqlite_hook, "stalled", recorder)
    stalled = RegistryLock(slow, model, holder="stalled", ttl=1.0, policy=QUICK, skew=0.05)
    stalled.acquire()
    time.sleep(1.2)  # a GC pause, a frozen VM: the lease runs out while it holds the lock
    fresh = hook_for(sqlite_hook, "next", recorder)
    res = promote(fresh, model, 1, None, "next writer", "next", policy=QUICK, lock_ttl=10.0)
    assert res.changed
    with pytest.raises(RegistryLockTimeoutError, match="lease of 1s ran out"):
        commit_aliases(
            slow, model, stalled, {"champion": 2}, actor="stalled", reason="late", action="promote"
        )
    assert recorder.writes and set(recorder.writes) == {"next"}
    assert read_aliases(sqlite_hook, model) == {"champion": 1}
    assert_complete_trail(sqlite_hook, model)


def test_two_writers_breaking_the_same_expired_lock_cannot_both_win(sqlite_hook, model):
    """Forced interleaving: both read the crashed holder's expired generation before either creates."""
    crashed = RegistryLock(
        sqlite_hook, model, holder="crashed", ttl=0.5, policy=RetryPolicy(budget=0.1), skew=0.05
    )
    crashed.acquire()  # never released
    time.sleep(0.6)
    recorder = Recorder()
    hooks = {who: hook_for(sqlite_hook, who, recorder) for who in ("a", "b")}
    gates = {}
    for who, hook in hooks.items():  # each pauses right after its first read of the generations
        reached, resume = threading.Event(), threading.Event()
        hook.client.pause_after["search_registered_models"] = (reached, resume)
        gates[who] = (reached, resume)
    results: dict[str, Any] = {}

    def writer(who: str, version: int) -> None:
        try:
            results[who] = promote(
                hooks[who], model, version, None, f"writer {who}", who, policy=QUICK, lock_ttl=5.0
            )
        except BaseException as exc:
            results[who] = exc

    threads = [threading.Thread(target=writer, args=(w, v)) for w, v in (("a", 2), ("b", 3))]
    for t in threads:
        t.start()
    for reached, _ in gates.values():
        assert reached.wait(30)  # both saw generation 1, expired; neither has created generation 2
    for _, resume in gates.values():
        resume.set()
    for t in threads:
        t.join(60)
    outcomes = sorted(type(r).__name__ for r in results.values())
    # one wins the lock and promotes; the other gets the lock after it and loses the compare-and-set
    assert outcomes == ["PromotionResult", "RegistryConflictError"], results
    assert_one_writer_at_a_time(recorder.writes)
    assert_complete_trail(sqlite_hook, model)
    gens = RegistryLock(sqlite_hook, model).generations()
    assert max(gens) == 3  # crashed holder's 1, then one generation per winner: no shared generation


def test_a_slow_registry_keeps_one_writer_at_a_time(sqlite_hook, model):
    """Every call takes 120 ms more; a holder renews its 3 s lease as it goes, and nobody cuts in."""
    recorder = Recorder()
    promote(sqlite_hook, model, 1, None, "start", "setup", policy=QUICK, lock_ttl=3.0)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        hook = hook_for(sqlite_hook, f"w{i}", recorder, delay=0.12)
        for _ in range(40):
            seen = read_aliases(hook, model) or {}
            target = 1 + (seen.get("champion", 1) % 3)
            try:
                res = promote(
                    hook, model, target, seen.get("champion"), f"w{i}", f"w{i}", policy=QUICK, lock_ttl=3.0
                )
                if res.changed:
                    return
            except RegistryError:  # lost the compare-and-set or the lock, or SQLite was busy: retry
                time.sleep(0.05)
        errors.append(AssertionError(f"w{i} never won"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert_one_writer_at_a_time(recorder.writes)
    assert_complete_trail(sqlite_hook, model)
    assert len([e for e in history(sqlite_hook, model) if e.alias == "champion"]) == 3
