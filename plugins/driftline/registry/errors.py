"""The registry's errors, on top of driftline.exceptions.

- `RegistryError` (retryable, from driftline.exceptions): the registry is unreachable or busy.
- `RegistryConflictError(RegistryError)`: a compare-and-set lost (the champion moved since the caller
  read it); retrying the task re-reads the registry and decides again.
- `RegistryLockTimeoutError(RegistryError)`: another writer held the model's lock for too long.
- `RegistryInputError(PermanentError)`: the request can never succeed (unknown model, unknown version,
  no previous champion to roll back to, a training run without a model): fail without retry.
- `PromotionRefusedError(RegistryInputError)`: the promotion policy refuses this move (e.g. a rollback
  to a version that never was champion nor passed the gate, without approval).
- `ModelLoadRefusedError(PermanentError)`: a model artifact is in a serialization format (or holds
  types) the model's config does not allow to be loaded.
"""

from __future__ import annotations

from driftline.exceptions import PermanentError, RegistryError


class RegistryInputError(PermanentError):
    """A registry request names something that does not exist or cannot be done."""


class RegistryConflictError(RegistryError):
    """The aliases changed between the caller's read and its write (compare-and-set failed)."""

    def __init__(self, message: str, *, expected: int | None, actual: int | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class RegistryLockTimeoutError(RegistryError):
    """The model's registry lock could not be acquired in time."""


class PromotionRefusedError(RegistryInputError):
    """The promotion policy refuses to move `champion` to this version (names model, version and why)."""


class StalePromotionError(PromotionRefusedError):
    """A run for older data would replace a champion promoted from newer data (a backfill, or a run
    that reached its gate after a later day's run): the newer data time wins, the champion stays."""


class ModelLoadRefusedError(PermanentError):
    """A model artifact may not be loaded: its format or content is not allowed by the model's config."""
