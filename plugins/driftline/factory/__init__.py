"""ModelConfig -> Airflow DAGs."""

from __future__ import annotations

from driftline.factory.dags import build_all, build_model_dags

__all__ = ["build_all", "build_model_dags"]
