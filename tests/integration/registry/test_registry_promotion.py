"""Promotion, rollback, the registry lock and the audit trail against a real `mlflow server`."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time

import pytest
from driftline.registry.audit import PENDING_TAG, champion_at, format_history, history
from driftline.registry.champion import get_champion, read_aliases
from driftline.registry.errors import RegistryConflictError, RegistryInputError
from driftline.registry.lock import RELEASED_TAG, RegistryLock
from driftline.registry.promotion import promote, rollback
from driftline.registry.registration import register_training_run
from driftline.registry.retry import RetryPolicy
from registry_helpers import extra_versions, log_training_run, registry_config

FAST = RetryPolicy(attempts=3, backoff=0.05)
QUICK_LEASE = RetryPolicy(attempts=1, backoff=0.0, budget=0.1, request_timeout=0.1)


def assert_lock_released(hook, name):
    """The newest lock generation is released (older ones are tidied up by later holders)."""
    gens = RegistryLock(hook, name).generations()
    assert gens and gens[max(gens)].tags.get(RELEASED_TAG) == "true", gens


@pytest.fixture
def registered(server_hook, model_name):
    """Model `model_name` with version 1 (registered, challenger) and versions 2..5 (same artifacts)."""
    config = registry_config(model_name)
    training = log_training_run(server_hook, model_name)
    out = register_training_run(
        server_hook, config, training, dag_id="driftline__test", run_id="scheduled__1"
    )
    extra_versions(server_hook, model_name, out["version"], 4)
    return model_name


def test_promote_moves_champion_and_previous_champion(server_hook, registered):
    name = registered
    first = promote(server_hook, name, 1, None, "gate: first champion", "airflow:dag/run1")
    assert first.changed and first.previous is None
    assert read_aliases(server_hook, name) == {"champion": 1}  # challenger alias left version 1
    info = get_champion(server_hook, name)
    assert info is not None
    assert (info.version, info.metric_name, info.snapshot_uri) == (1, "roc_auc", "/tmp/snap.parquet")
    assert info.metric_value is not None and 0.5 < info.metric_value <= 1
    assert info.trained_until == dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    assert info.promoted_at is not None

    second = promote(server_hook, name, 3, 1, "gate: better", "airflow:dag/run2")
    assert (second.changed, second.previous) == (True, 1)
    assert read_aliases(server_hook, name) == {"champion": 3, "previous-champion": 1}
    # promoting the champion again is a no-op, even with a stale expectation
    assert promote(server_hook, name, 3, 1, "again", "x").changed is False
    # compare-and-set: the caller saw version 1, but 3 is champion now
    with pytest.raises(RegistryConflictError, match="expected version 1") as err:
        promote(server_hook, name, 2, 1, "stale", "airflow:dag/run3")
    assert (err.value.expected, err.value.actual) == (1, 3)
    assert promote(server_hook, name, 2, 1, "forced", "admin", unconditional=True).previous == 3
    assert_lock_released(server_hook, name)


def test_rollback_to_previous_and_to_named_version(server_hook, registered):
    name = registered
    promote(server_hook, name, 1, None, "first", "a")
    promote(server_hook, name, 2, 1, "second", "a")
    back = rollback(
        server_hook, name, None, "bad predictions after v2", "airflow:rollback/manual__1 (user admin)"
    )
    assert (back.version, back.previous, back.changed) == (1, 2, True)
    assert read_aliases(server_hook, name) == {"champion": 1, "previous-champion": 2}
    named = rollback(server_hook, name, 4, "pin v4", "ops")
    assert (named.version, named.previous) == (4, 1)
    last = history(server_hook, name)[-1]
    assert (last.alias, last.from_version, last.to_version, last.action, last.reason) == (
        "champion",
        1,
        4,
        "rollback",
        "pin v4",
    )
    with pytest.raises(RegistryInputError, match="has no version 99"):
        rollback(server_hook, name, 99, "typo", "ops")
    with pytest.raises(RegistryInputError, match="does not exist"):
        rollback(server_hook, "no_such_model_xyz", None, "r", "ops")


def test_rollback_without_previous_champion_is_a_clear_error(server_hook, registered):
    promote(server_hook, registered, 1, None, "first", "a")
    with pytest.raises(RegistryInputError, match="no 'previous-champion' alias"):
        rollback(server_hook, registered, None, "r", "ops")


def test_audit_history_and_champion_at(server_hook, registered):
    name = registered
    t0 = dt.datetime.now(dt.UTC)
    promote(server_hook, name, 1, None, "first", "a")
    time.sleep(0.05)
    t1 = dt.datetime.now(dt.UTC)
    promote(server_hook, name, 2, 1, "second", "b")
    time.sleep(0.05)
    t2 = dt.datetime.now(dt.UTC)
    rollback(server_hook, name, None, "revert", "c")
    entries = history(server_hook, name)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    champion_moves = [(e.from_version, e.to_version, e.action) for e in entries if e.alias == "champion"]
    assert champion_moves == [(None, 1, "promote"), (1, 2, "promote"), (2, 1, "rollback")]
    assert champion_at(server_hook, name, t0 - dt.timedelta(days=1)) is None
    assert champion_at(server_hook, name, t1) == 1
    assert champion_at(server_hook, name, t2) == 2
    assert champion_at(server_hook, name, dt.datetime.now(dt.UTC)) == 1
    assert champion_at(server_hook, name, t1.replace(tzinfo=None)) == 1  # naive = UTC
    table = format_history(entries)
    assert "v1 -> v2" in table and "revert" in table and table.splitlines()[0].startswith("seq")


def test_twenty_concurrent_promotions(server_hook, registered):
    """20 threads read the champion and promote a version; CAS losers re-read and retry."""
    from driftline.hooks.mlflow import MlflowHook

    name = registered
    promote(server_hook, name, 1, None, "start", "setup")
    wins: list[tuple[int, int | None, int]] = []  # (version, previous, champion seq)
    conflicts: list[int] = []
    errors: list[BaseException] = []
    guard = threading.Lock()
    barrier = threading.Barrier(20)

    def worker(i: int) -> None:
        hook = MlflowHook("none", tracking_uri=server_hook.tracking_uri)
        target = 1 + (i % 5)
        try:
            barrier.wait()
            for _ in range(50):
                seen = get_champion(hook, name)
                expected = seen.version if seen else None
                if expected == target:  # pick the next version so every attempt moves the alias
                    target = 1 + (target % 5)
                try:
                    # Up to 20 writers queue on the lock, each holding it for a few server round
                    # trips: on a loaded machine (parallel tests) the last waits past the default 60 s.
                    res = promote(
                        hook, name, target, expected, f"thread {i}", f"thread-{i}", policy=FAST, lock_wait=240
                    )
                except RegistryConflictError:
                    with guard:
                        conflicts.append(i)
                    time.sleep(random.uniform(0.05, 0.3))  # back off like a retrying task would
                    continue
                if not res.changed:  # another thread made `target` champion meanwhile: pick again
                    continue
                seq = next(e.seq for e in res.entries if e.alias == "champion")
                with guard:
                    wins.append((res.version, res.previous, seq))
                return
            raise AssertionError(f"thread {i} never won")
        except BaseException as exc:
            import traceback

            traceback.print_exc()
            with guard:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(wins) == 20

    aliases = read_aliases(server_hook, name)
    entries = history(server_hook, name)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))  # gap-free
    moves = [e for e in entries if e.alias == "champion"]
    assert len(moves) == 1 + 20  # the setup promotion + one per winner, each recorded once
    assert sorted(e.seq for e in moves[1:]) == sorted(seq for _, _, seq in wins)
    for before, after in itertools.pairwise(moves):  # an unbroken chain in seq order
        assert after.from_version == before.to_version
    assert aliases["champion"] == moves[-1].to_version
    assert aliases["previous-champion"] == moves[-1].from_version
    assert PENDING_TAG not in server_hook.client.get_registered_model(name).tags
    assert_lock_released(server_hook, name)


def test_expired_lock_of_a_crashed_holder_is_broken(server_hook, registered):
    quick = {"policy": QUICK_LEASE, "skew": 0.05}
    # The lease outlives the impatient writer's round trips even on a loaded machine (a 0.5 s lease
    # expired before it looked, under parallel tests); then the test waits for it to run out.
    ttl = 5.0
    started = time.monotonic()
    crashed = RegistryLock(server_hook, registered, holder="crashed", ttl=ttl, **quick)
    crashed.acquire()  # never released
    waiting = RegistryLock(server_hook, registered, holder="next", wait=0.2, **quick)
    from driftline.registry.errors import RegistryLockTimeoutError

    with pytest.raises(RegistryLockTimeoutError, match="held by 'crashed'"):
        RegistryLock(server_hook, registered, holder="impatient", wait=0.0).acquire()
    time.sleep(max(0.0, started + ttl + 0.1 - time.monotonic()))
    waiting.acquire()
    with pytest.raises(RegistryLockTimeoutError, match="was lost"):
        crashed.verify()
    waiting.release()
    assert promote(server_hook, registered, 1, None, "after the crash", "a").changed


def test_half_finished_change_is_completed_by_the_next_writer(server_hook, registered):
    """A writer that died after recording its plan and moving previous-champion only."""
    import json

    from driftline.registry.audit import AuditEntry

    name = registered
    promote(server_hook, name, 1, None, "first", "a")
    now = dt.datetime.now(dt.UTC)
    plan = {
        "op_id": "dead",
        "aliases": {"previous-champion": 1, "champion": 2},
        "version_tags": {},
        "entries": [
            AuditEntry(3, now, "previous-champion", None, 1, "dead", "crash", "promote", "dead").to_json(),
            AuditEntry(4, now, "champion", 1, 2, "dead", "crash", "promote", "dead").to_json(),
        ],
    }
    client = server_hook.client
    client.set_registered_model_tag(name, PENDING_TAG, json.dumps(plan))
    client.set_registered_model_alias(name, "previous-champion", "1")
    # the next writer expects champion 2 (what the dead writer intended): repair happens first
    res = promote(server_hook, name, 3, 2, "next", "b")
    assert (res.previous, [e.seq for e in res.entries]) == (2, [5, 6])
    assert read_aliases(server_hook, name) == {"champion": 3, "previous-champion": 2}
    assert [e.seq for e in history(server_hook, name)] == [1, 2, 3, 4, 5, 6]
