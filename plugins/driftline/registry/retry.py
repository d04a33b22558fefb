"""Retries with exponential backoff around single MLflow registry calls.

Only transient failures are retried: connection errors, HTTP 5xx / INTERNAL_ERROR,
TEMPORARILY_UNAVAILABLE, a locked SQLite database. A definite answer from the registry
(RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE ...) is returned to
the caller at once. When the attempts run out the last error becomes a `RegistryError`, which
Airflow retries. The defaults come from `DRIFTLINE_REGISTRY_RETRIES` (attempts, default 4) and
`DRIFTLINE_REGISTRY_BACKOFF` (first delay in seconds, default 1.0, doubled each time, capped at
`max_delay`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from driftline.exceptions import RegistryError
from driftline.settings import setting

T = TypeVar("T")

# Server-side overload surfaces with other codes (e.g. BAD_REQUEST for an exhausted SQLAlchemy pool).
TRANSIENT_MESSAGES = ("database is locked", "QueuePool limit", "connection timed out", "Connection refused")
TRANSIENT_CODES = frozenset(
    {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED", "ABORTED"}
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a registry call is retried."""

    attempts: int = 4
    backoff: float = 1.0
    max_delay: float = 10.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            attempts=max(1, int(setting("registry_retries", "4") or "4")),
            backoff=max(0.0, float(setting("registry_backoff", "1.0") or "1.0")),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), with jitter."""
        base = min(self.max_delay, self.backoff * (2 ** (attempt - 1)))
        return float(base * random.uniform(0.5, 1.0))


def error_code(exc: BaseException) -> str | None:
    """The MLflow error code of `exc`, if it is an MlflowException."""
    code = getattr(exc, "error_code", None)
    return str(code) if code is not None else None


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call may succeed."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if any(hint in str(exc) for hint in TRANSIENT_MESSAGES):
        return True
    code = error_code(exc)
    if code is not None:
        return code in TRANSIENT_CODES
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if module.startswith("requests") or name in {"OperationalError", "ConnectionError", "Timeout"}:
        return True
    return False


def call(
    policy: RetryPolicy | None,
    what: str,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run `fn(*args, **kwargs)`; retry transient failures; raise RegistryError naming `what` at the end."""
    policy = policy or RetryPolicy.from_env()
    last: BaseException | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc):
                raise
            last = exc
            if attempt < policy.attempts:
                time.sleep(policy.delay(attempt))
    raise RegistryError(
        f"model registry unavailable: {what} failed {policy.attempts} time(s); last error: {last}"
    ) from last
