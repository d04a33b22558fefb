"""Driftline's errors: every error the library raises derives from DriftlineError.

Plain Python: this module imports no Airflow, so the domain (`data`, `validation`, `drift`,
`training`, `registry`) runs where Airflow is not installed (the training image). Operators map
the errors to Airflow's failure handling in one place (`driftline.operators.base`): a
`PermanentError` fails the task without retrying, everything else retries.
"""

from __future__ import annotations


def error_code(exc: BaseException) -> str | None:
    """The error code a client library put on `exc`, or None when it carries none.

    MLflow's `MlflowException.error_code` (e.g. "RESOURCE_DOES_NOT_EXIST") and botocore's
    `ClientError.response["Error"]["Code"]` (e.g. "ConditionalCheckFailedException"). One function
    for both: the registry and the DynamoDB code each had their own, each blind to the other's kind.
    """
    code = getattr(exc, "error_code", None)
    if code is not None:
        return str(code)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        found = (response.get("Error") or {}).get("Code")
        if found:
            return str(found)
    return None


class DriftlineError(Exception):
    """Base class of every Driftline error."""

    # True once a step has written its own alert record for this error (see driftline.alerting.callbacks).
    alert_recorded: bool = False


class PermanentError(DriftlineError):
    """An error a retry cannot fix (bad input, a failed gate): the task fails without retrying."""


class ConfigError(PermanentError):
    """One config file is invalid; carries every problem found in it."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} error(s)\n{lines}")


class NotSupportedYetError(PermanentError):
    """A pipeline stage was asked for that this version of Driftline does not build."""


class DataSourceError(DriftlineError):
    """A source could not be read: names the source, the partition and the problem."""


class SnapshotError(PermanentError):
    """A snapshot is missing, corrupt or quarantined."""


class ValidationFailedError(PermanentError):
    """A batch failed its validation gate; it has been quarantined."""


class TrainingError(DriftlineError):
    """Training could not start or finish."""


class RegistryError(DriftlineError):
    """The model registry refused or could not complete an operation."""


class DriftInputError(PermanentError):
    """Reference and current data cannot be compared."""
