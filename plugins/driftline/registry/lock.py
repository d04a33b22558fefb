"""A per-model mutex kept in the MLflow registry itself, so every writer sees the same lock.

MLflow aliases are last-writer-wins and have no compare-and-set. Creating a registered model is
atomic, though: the name is a primary key and a second create fails with RESOURCE_ALREADY_EXISTS.
So the lock of model `m` is the registered model `_driftline_lock.m`; it carries the holder
(`driftline.lock.owner`, a unique token) and an expiry (`driftline.lock.expires_at`, epoch seconds).
Releasing deletes it. A holder that crashed leaves its lock behind: once its expiry has passed
another writer deletes it and competes again. The holder re-checks that it still owns the lock
(`verify`) right before it writes, so a lock broken by mistake (a holder slower than its ttl) fails
the slow holder cleanly instead of letting two writers interleave. The ttl must comfortably exceed
the few registry calls made under the lock (default 120 s; they take well under a second).

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

from driftline.registry.errors import RegistryLockTimeoutError
from driftline.registry.retry import RetryPolicy, call, error_code

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess

log = logging.getLogger(__name__)

LOCK_PREFIX = "_driftline_lock."
OWNER_TAG = "driftline.lock.owner"
EXPIRES_TAG = "driftline.lock.expires_at"
HOLDER_TAG = "driftline.lock.holder"


def lock_name(name: str) -> str:
    """The registered-model name that serves as the lock of model `name`."""
    return f"{LOCK_PREFIX}{name}"


class RegistryLock:
    """`with RegistryLock(hook, "churn", holder="dag/run"):` serialises alias writes on one model."""

    def __init__(
        self,
        hook: MlflowAccess,
        name: str,
        *,
        holder: str = "driftline",
        ttl: float = 120.0,
        wait: float = 60.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.hook = hook
        self.name = name
        self.lock_name = lock_name(name)
        self.holder = holder
        self.ttl = ttl
        self.wait = wait
        self.policy = policy
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self.held = False

    def __enter__(self) -> RegistryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _read(self) -> Any | None:
        try:
            return call(
                self.policy,
                f"read lock {self.lock_name}",
                self.hook.client.get_registered_model,
                self.lock_name,
            )
        except Exception as exc:
            if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    @staticmethod
    def _expires_at(model: Any, ttl: float) -> float:
        tags = dict(model.tags or {})
        try:
            return float(tags[EXPIRES_TAG])
        except (KeyError, ValueError):  # no readable expiry: count the ttl from its creation
            return (model.creation_timestamp or 0) / 1000.0 + ttl

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds; break a lock whose expiry has passed."""
        deadline = time.monotonic() + self.wait
        pause = 0.1
        client = self.hook.client
        while True:
            tags = {
                OWNER_TAG: self.token,
                EXPIRES_TAG: f"{time.time() + self.ttl:.3f}",
                HOLDER_TAG: self.holder,
            }
            try:
                call(
                    self.policy,
                    f"create lock {self.lock_name}",
                    client.create_registered_model,
                    self.lock_name,
                    tags,
                )
                self.held = True
                return
            except Exception as exc:
                # The server answers RESOURCE_DOES_NOT_EXIST when the holder deleted the lock while the
                # failed create looked it up: contention all the same, so read and decide below.
                if error_code(exc) not in (
                    "RESOURCE_ALREADY_EXISTS",
                    "ALREADY_EXISTS",
                    "RESOURCE_DOES_NOT_EXIST",
                ):
                    raise
            current = self._read()
            if current is None:
                continue  # released in between: try again at once
            owner = (current.tags or {}).get(OWNER_TAG)
            if owner == self.token:  # our create went through but its answer was lost
                self.held = True
                return
            expires = self._expires_at(current, self.ttl)
            if expires < time.time():
                self._break(owner, (current.tags or {}).get(HOLDER_TAG), expires)
                continue
            if time.monotonic() >= deadline:
                raise RegistryLockTimeoutError(
                    f"registry lock {self.lock_name!r} is held by {(current.tags or {}).get(HOLDER_TAG)!r} "
                    f"until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expires))}; "
                    f"waited {self.wait:.0f}s"
                )
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 1.5, 1.0)

    def _break(self, owner: str | None, holder: str | None, expires: float) -> None:
        again = self._read()
        if again is None or (again.tags or {}).get(OWNER_TAG) != owner:
            return  # someone else already broke or re-took it
        log.warning(
            "breaking expired registry lock %s of %s (expired %.0fs ago)",
            self.lock_name,
            holder,
            time.time() - expires,
        )
        try:
            call(
                self.policy,
                f"break lock {self.lock_name}",
                self.hook.client.delete_registered_model,
                self.lock_name,
            )
        except Exception as exc:
            if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                raise

    def verify(self) -> None:
        """Raise RegistryLockTimeoutError unless this holder still owns the lock (fencing before writes)."""
        current = self._read()
        owner = (current.tags or {}).get(OWNER_TAG) if current is not None else None
        if not self.held or owner != self.token:
            self.held = False
            raise RegistryLockTimeoutError(
                f"registry lock {self.lock_name!r} was lost (expired after {self.ttl:.0f}s and taken over); "
                "nothing was written"
            )

    def release(self) -> None:
        """Delete the lock if this holder still owns it. Failure is logged: the lock then expires."""
        if not self.held:
            return
        self.held = False
        try:
            current = self._read()
            if current is None or (current.tags or {}).get(OWNER_TAG) != self.token:
                return
            call(
                self.policy,
                f"release lock {self.lock_name}",
                self.hook.client.delete_registered_model,
                self.lock_name,
            )
        except Exception as exc:
            if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                log.warning(
                    "could not release registry lock %s (it expires after %.0fs): %s",
                    self.lock_name,
                    self.ttl,
                    exc,
                )
