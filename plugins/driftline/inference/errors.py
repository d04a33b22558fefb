"""Errors of batch inference."""

from __future__ import annotations

from driftline.exceptions import DriftlineError, PermanentError


class InferenceError(DriftlineError):
    """Scoring or writing could not finish; a retry may succeed."""


class WriteIncompleteError(InferenceError):
    """Some items were still unwritten when the writer's retries ran out."""

    def __init__(self, table: str, unwritten: int, total: int, last_error: str) -> None:
        self.table = table
        self.unwritten = unwritten
        self.total = total
        super().__init__(
            f"{unwritten} of {total} item(s) were not written to DynamoDB table {table!r} after every "
            f"retry (last error: {last_error}); rerun the task: the keys are deterministic, a rerun "
            "overwrites and never duplicates"
        )


class InferenceInputError(PermanentError):
    """The scoring input or the table does not match the config; no retry fixes it."""


class NoChampionError(InferenceInputError):
    """The registered model has no champion to score with."""
