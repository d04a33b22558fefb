"""Driftline: one YAML file per model becomes Airflow 3 MLOps pipelines."""

from __future__ import annotations

__version__ = "0.1.0"
