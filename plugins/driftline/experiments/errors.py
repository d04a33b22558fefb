"""Errors of the A/B experiments domain."""

from __future__ import annotations

from driftline.exceptions import PermanentError


class ExperimentInputError(PermanentError):
    """An experiment was given input it cannot use (bad shares, mismatched samples, a bad plan)."""
