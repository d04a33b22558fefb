"""Training errors that a retry cannot fix (bad config or data), kept import-light."""

from __future__ import annotations

from driftline.exceptions import PermanentError


class TrainingInputError(PermanentError):
    """The training input is wrong: an unknown estimator or metric, bad params, unusable labels or data."""
