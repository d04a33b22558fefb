"""Training: one entrypoint that runs inside a Kubernetes (GPU) pod and on a local worker.

`python -m driftline.training --config churn.yaml --snapshot <uri>` and
`driftline.training.train(config, snapshot_uri, identity)` do the same thing: read the validated
snapshot, split it by time, fit the configured estimator, evaluate it and log everything to MLflow.

This package's `__init__` imports nothing heavy: operators import `driftline.training.errors` at DAG
parse time. Import `driftline.training.entrypoint` (mlflow, sklearn, pandas) only where you train.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainResult", "TrainingInputError", "train"]


def __getattr__(name: str) -> Any:
    if name in {"train", "TrainResult"}:
        from driftline.training import entrypoint

        return getattr(entrypoint, name)
    if name == "TrainingInputError":
        from driftline.training.errors import TrainingInputError

        return TrainingInputError
    raise AttributeError(f"module 'driftline.training' has no attribute {name!r}")
