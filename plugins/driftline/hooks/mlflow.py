"""MlflowHook: owns the MLflow client and the tracking URI, from an Airflow connection.

Resolution order for the tracking URI:
1. the Airflow connection `mlflow_conn_id` (default `mlflow_default`): its `extra.tracking_uri`,
   or `<schema or http>://<host>:<port>`; login/password become MLflow's basic-auth variables;
2. the `MLFLOW_TRACKING_URI` environment variable;
3. the embedded default: a SQLite store under `DRIFTLINE_HOME/mlflow` with a local artifact root.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.hook import BaseHook
from driftline.mlflow_store import MlflowStore
from driftline.settings import driftline_home

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def default_tracking_uri() -> str:
    store = driftline_home() / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


class MlflowHook(BaseHook):
    """Connects to an MLflow tracking server / model registry."""

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"  # declared with its form fields in driftline.provider; any type is read
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, tracking_uri: str | None = None) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id
        self._explicit_uri = tracking_uri

    def _connection(self) -> Any | None:
        try:
            return self.get_connection(self.mlflow_conn_id)
        except Exception:  # not defined, or no metadata database outside a task: use the fallbacks
            return None

    @cached_property
    def tracking_uri(self) -> str:
        if self._explicit_uri:
            return self._explicit_uri
        conn = self._connection()
        if conn is not None:
            extra = conn.extra_dejson or {}
            explicit = extra.get("tracking_uri") or extra.get("extra__mlflow__tracking_uri")
            if explicit:
                uri = str(explicit)
            else:
                scheme = conn.schema or "http"
                uri = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
            if conn.login:
                os.environ.setdefault("MLFLOW_TRACKING_USERNAME", conn.login)
            if conn.password:
                os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", conn.password)
            return uri
        return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()

    @cached_property
    def store(self) -> MlflowStore:
        """The Airflow-free client wrapper the domain works with (driftline.mlflow_store)."""
        return MlflowStore(self.tracking_uri)

    @property
    def is_local_store(self) -> bool:
        """True when MLflow writes straight to a local database (no server in between)."""
        return self.store.is_local_store

    @property
    def client(self) -> MlflowClient:
        return self.store.client

    def get_or_create_experiment(self, name: str) -> str:
        """The experiment id for `name`, created with a local artifact root when the store is local."""
        return self.store.get_or_create_experiment(name)

    def get_conn(self) -> MlflowClient:
        return self.client
