"""A per-model lease kept in the MLflow registry, with monotonic fencing tokens.

MLflow aliases are last-writer-wins and have no compare-and-set; the one conditional write MLflow
offers is creating a registered model (the name is a primary key; a second create fails with
RESOURCE_ALREADY_EXISTS). So every acquisition of the lock of model `m` *creates* a new registered
model `_driftline_lock.m.<generation>`, one generation above the newest that exists:

- taking a free lock and breaking an expired one are the same conditional create of generation
  g+1: of any number of competitors exactly one succeeds, and nothing is ever read-then-deleted;
- a generation is held only while it is the newest. A create is followed by a second listing: a
  writer whose listing was stale (it read generation g, stalled, and created g+1 after newer
  generations had come and the old name g+1 had been tidied away: the ABA case) finds a newer
  generation there, tags its own `released` (a tombstone) and never holds it. So a generation name,
  even one re-created, is held at most once, and the newest generation is never deleted: the
  counter only grows;
- the generation is the fencing token, checked on **every** registry write (`fence`): before each
  write the holder re-reads its own generation and the next one (a newer holder always creates
  generation+1 first) and fails unless its own is still the newest and owned by it and its lease has
  not run out by its own clock; it renews the lease (a tag on its generation) first when less than
  two calls' retry budgets are left. MLflow has no conditional tag write, so this is the
  closest it allows: a write is issued only after a check, within one call's budget, that no other
  writer can hold the lock, provided clocks agree within `skew` seconds and one call finishes within
  its budget (driftline.registry.retry bounds it, MLflow's own HTTP retries included); the lease
  (`ttl`, default 120 s) must exceed twice the budget plus the skew (`DRIFTLINE_REGISTRY_CLOCK_SKEW`,
  default 5 s), which is checked;
- release tags the generation `released`; generations more than `KEEP_GENERATIONS` below the newest
  are deleted by the next holder (a stale re-create of one of those names is caught by the listing
  after the create, as above).

Listings of registered models should hide names that start with `LOCK_PREFIX`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from driftline.exceptions import error_code
from driftline.registry.errors import RegistryInputError, RegistryLockTimeoutError
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess

log = logging.getLogger(__name__)

LOCK_PREFIX = "_driftline_lock."
OWNER_TAG = "driftline.lock.owner"
EXPIRES_TAG = "driftline.lock.expires_at"
HOLDER_TAG = "driftline.lock.holder"
RELEASED_TAG = "driftline.lock.released"
_TAKEN = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
# Generations kept below the newest (tombstones); older ones are deleted by the next holder.
KEEP_GENERATIONS = 20


def lock_name(name: str) -> str:
    """The common prefix of the registered models that serve as the lock of model `name`."""
    return f"{LOCK_PREFIX}{name}"


def generation_name(name: str, generation: int) -> str:
    """The registered model that is generation `generation` of model `name`'s lock."""
    return f"{lock_name(name)}.{generation}"


def _expires_at(model: Any) -> float:
    tags = dict(model.tags or {})
    try:
        return float(tags[EXPIRES_TAG])
    except (KeyError, ValueError):  # no readable expiry: treat as expired (a crashed half-create)
        return 0.0


class RegistryLock:
    """`with RegistryLock(hook, "churn", holder="dag/run"):` makes one writer of the model's aliases."""

    def __init__(
        self,
        hook: MlflowAccess,
        name: str,
        *,
        holder: str = "driftline",
        ttl: float = 120.0,
        wait: float = 60.0,
        policy: RetryPolicy | None = None,
        skew: float | None = None,
    ) -> None:
        self.hook = hook
        self.name = name
        self.lock_name = lock_name(name)
        self.holder = holder
        self.ttl = ttl
        self.wait = wait
        self.policy = policy or RetryPolicy.from_env()
        if skew is None:
            skew = float(os.environ.get("DRIFTLINE_REGISTRY_CLOCK_SKEW", "5"))
        self.skew = skew
        if ttl <= 2 * self.policy.budget + skew:
            raise RegistryInputError(
                f"registry lock of {name!r}: the lease ({ttl:.0f}s) must exceed twice a registry call's "
                f"retry budget ({self.policy.budget:.0f}s, DRIFTLINE_REGISTRY_BUDGET) plus the clock skew "
                f"allowance ({skew:.0f}s)"
            )
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self.generation: int | None = None
        self.expires = 0.0
        self.held = False

    def __enter__(self) -> RegistryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- registry reads ---------------------------------------------------------------------

    def generations(self) -> dict[int, Any]:
        """Every existing generation of this lock: {generation: RegisteredModel}."""
        prefix = self.lock_name + "."
        found: dict[int, Any] = {}
        token = None
        while True:
            page = call(
                self.policy,
                f"list lock generations of {self.name!r}",
                self.hook.client.search_registered_models,
                filter_string=f"name LIKE '{prefix}%'",
                max_results=100,
                page_token=token,
            )
            for model in page:
                suffix = str(model.name)[len(prefix) :]
                if str(model.name).startswith(prefix) and suffix.isdigit():
                    found[int(suffix)] = model
            token = getattr(page, "token", None)
            if not token:
                return found

    # --- acquire / release ------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds; an expired holder is superseded, not deleted."""
        deadline = time.monotonic() + self.wait
        pause = 0.1
        while True:
            gens = self.generations()
            top = max(gens, default=0)
            if top:
                tags = dict(gens[top].tags or {})
                if tags.get(OWNER_TAG) == self.token:  # our create went through but its answer was lost
                    self._held(top, _expires_at(gens[top]), gens)
                    return
                expires = _expires_at(gens[top])
                released = tags.get(RELEASED_TAG) == "true"
                if not released and expires + self.skew >= time.time():
                    if time.monotonic() >= deadline:
                        raise RegistryLockTimeoutError(
                            f"registry lock {self.lock_name!r} is held by {tags.get(HOLDER_TAG)!r} "
                            f"until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expires))}; "
                            f"waited {self.wait:.0f}s"
                        )
                    time.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 - jitter for a retry pause, not a secret
                    pause = min(pause * 1.5, 1.0)
                    continue
                if not released:
                    log.warning(
                        "superseding expired registry lock %s generation %d of %s (expired %.0fs ago)",
                        self.lock_name,
                        top,
                        tags.get(HOLDER_TAG),
                        time.time() - expires,
                    )
            expires = time.time() + self.ttl
            mine = top + 1
            try:
                call(
                    self.policy,
                    f"create lock {generation_name(self.name, mine)}",
                    self.hook.client.create_registered_model,
                    generation_name(self.name, mine),
                    {OWNER_TAG: self.token, EXPIRES_TAG: f"{expires:.3f}", HOLDER_TAG: self.holder},
                )
            except Exception as exc:
                if error_code(exc) not in (*_TAKEN, "RESOURCE_DOES_NOT_EXIST"):
                    raise
                continue  # another writer took generation top+1 (or our lost answer): look again
            after = self.generations()
            newer = [g for g in after if g > mine]
            if newer:
                # Our listing was stale: generation `mine` had come and gone (ABA). Never hold it.
                log.warning(
                    "registry lock %s: created generation %d from a stale listing (generation %d exists); "
                    "tombstoned it, trying again",
                    self.lock_name,
                    mine,
                    max(newer),
                )
                self._tombstone(mine)
                continue
            self._held(mine, expires, after)
            return

    def _tombstone(self, generation: int) -> None:
        try:
            self.hook.client.set_registered_model_tag(
                generation_name(self.name, generation), RELEASED_TAG, "true"
            )
        except Exception as exc:  # best effort: a newer generation exists, so it is never held anyway
            log.debug("could not tombstone lock generation %s.%d: %s", self.lock_name, generation, exc)

    def _held(self, generation: int, expires: float, gens: dict[int, Any]) -> None:
        self.generation, self.expires, self.held = generation, expires, True
        for older in sorted(g for g in gens if g < generation - KEEP_GENERATIONS):  # best effort
            try:
                self.hook.client.delete_registered_model(generation_name(self.name, older))
            except Exception as exc:
                log.debug("could not delete old lock generation %s.%d: %s", self.lock_name, older, exc)

    def _lost(self, why: str) -> RegistryLockTimeoutError:
        self.held = False
        return RegistryLockTimeoutError(
            f"registry lock {self.lock_name!r} (generation {self.generation}) was lost: {why}; "
            "nothing more was written"
        )

    def _check(self, expires: float | None = None) -> None:
        """Fail unless this holder's lease holds by its clock and its generation is the newest."""
        if not self.held or self.generation is None:
            raise self._lost("it is not held")
        if time.time() + self.skew >= (self.expires if expires is None else expires):
            raise self._lost(f"its lease of {self.ttl:.0f}s ran out")
        # Two reads by name, not a listing: a newer holder always creates generation+1 first, and it
        # is deleted only once our own generation is too (KEEP_GENERATIONS), which the first read sees.
        mine = self._read(self.generation)
        if mine is None or dict(mine.tags or {}).get(OWNER_TAG) != self.token:
            raise self._lost("its generation was superseded and removed")
        if self._read(self.generation + 1) is not None:
            raise self._lost(f"generation {self.generation + 1} superseded it")

    def _read(self, generation: int) -> Any:
        try:
            return call(
                self.policy,
                f"read lock generation {generation} of {self.name!r}",
                self.hook.client.get_registered_model,
                generation_name(self.name, generation),
            )
        except Exception as exc:
            if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def verify(self) -> None:
        """Fail unless this holder still owns the newest generation; renews the lease."""
        if not self.held or self.generation is None:
            raise self._lost("it is not held")
        if time.time() + self.skew >= self.expires:
            raise self._lost(f"its lease of {self.ttl:.0f}s ran out")
        expires = time.time() + self.ttl
        call(
            self.policy,
            f"renew lock {self.lock_name}",
            self.hook.client.set_registered_model_tag,
            generation_name(self.name, self.generation),
            EXPIRES_TAG,
            f"{expires:.3f}",
        )
        self._check(expires)
        self.expires = expires

    def fence(self) -> None:
        """Call before every registry write made under the lock: the generation is checked every time
        (still the newest, still ours), and the lease renewed when less than a call's budget is left."""
        if not self.held:
            raise self._lost("it is not held")
        if self._remaining() < 2 * self.policy.budget + self.skew:
            self.verify()  # renew first (it lands within a budget, before the lease ends), then check
            return
        self._check()
        if self._remaining() < self.policy.budget + self.skew:  # the check's reads took time
            self.verify()

    def _remaining(self) -> float:
        return self.expires - time.time()

    def release(self) -> None:
        """Mark this generation released. Failure is logged: the lease then expires."""
        if not self.held or self.generation is None:
            return
        self.held = False
        try:
            call(
                self.policy,
                f"release lock {self.lock_name}",
                self.hook.client.set_registered_model_tag,
                generation_name(self.name, self.generation),
                RELEASED_TAG,
                "true",
            )
        except Exception as exc:
            log.warning(
                "could not release registry lock %s (it expires after %.0fs): %s",
                self.lock_name,
                self.ttl,
                exc,
            )
