"""Driftline: one YAML file per model becomes Airflow 3 MLOps pipelines."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# MLflow otherwise gives its loggers their own stderr handler (propagate=False). Under Airflow's
# task runner everything on stderr is logged at ERROR, so MLflow's INFO lines showed as errors.
# Without that handler MLflow's records reach the task log through the root logger, at their
# own level. Set before any `import mlflow`; export MLFLOW_CONFIGURE_LOGGING=true to opt out.
os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
