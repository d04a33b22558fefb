"""Retries with exponential backoff around single MLflow registry calls (tenacity).

Only transient failures are retried: connection errors, HTTP 5xx / INTERNAL_ERROR,
TEMPORARILY_UNAVAILABLE, a locked SQLite database. A definite answer from the registry
(RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE ...) is returned to
the caller at once. When the attempts run out the last error becomes a `RegistryError`, which
Airflow retries. The defaults come from `DRIFTLINE_REGISTRY_RETRIES` (attempts, default 4) and
`DRIFTLINE_REGISTRY_BACKOFF` (first delay in seconds, default 1.0, doubled each time, capped at
`max_delay`, with full jitter). The loop itself is tenacity's `Retrying`.

Bounded: one `call` never takes longer than `budget` seconds (`DRIFTLINE_REGISTRY_BUDGET`, default
30): no retry starts unless a whole request (`request_timeout`) still fits. MLflow's own HTTP retries
(7 by default, with a 120 s timeout per request) would nest under these and outlast the registry
lock's lease, so `bound_client` turns them off and caps a request at `request_timeout` unless the
environment sets `MLFLOW_HTTP_REQUEST_MAX_RETRIES` / `MLFLOW_HTTP_REQUEST_TIMEOUT` itself. The
registry lock (driftline.registry.lock) requires its lease to outlast a call's budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from driftline.exceptions import RegistryError, error_code
from driftline.settings import setting
from driftline.timeouts import external_timeout_s

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
    budget: float = 30.0
    request_timeout: float = 10.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            attempts=max(1, int(setting("registry_retries", "4") or "4")),
            backoff=max(0.0, float(setting("registry_backoff", "1.0") or "1.0")),
            # default: the one bound of external calls (driftline.timeouts, 30 s unless set)
            budget=max(1.0, float(setting("registry_budget") or external_timeout_s())),
        )

    def retrying(self) -> Retrying:
        """tenacity's loop for this policy: transient errors only, jittered exponential waits."""
        return Retrying(
            # no retry starts unless a whole request still fits in the budget
            stop=stop_after_attempt(self.attempts)
            | stop_before_delay(max(0.0, self.budget - self.request_timeout)),
            wait=wait_random_exponential(multiplier=self.backoff, max=self.max_delay),
            retry=retry_if_exception(is_transient),
        )


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


def bound_client(policy: RetryPolicy) -> None:
    """Keep MLflow's HTTP client from retrying under Driftline's retries (unless configured explicitly)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(policy.request_timeout))))


def call(
    policy: RetryPolicy | None,
    what: str,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run `fn(*args, **kwargs)`; retry transient failures; raise RegistryError naming `what` at the end."""
    policy = policy or RetryPolicy.from_env()
    bound_client(policy)
    try:
        return policy.retrying()(fn, *args, **kwargs)  # a non-transient error is raised as it is
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise RegistryError(
            f"model registry unavailable: {what} failed {exc.last_attempt.attempt_number} time(s) "
            f"within {policy.budget:.0f}s; last error: {last}"
        ) from last
