"""MlflowHook: owns the MLflow client and the tracking URI, from an Airflow connection.

Resolution of the tracking URI, with no silent fallback:
1. an explicit `tracking_uri` (the training pod uses `driftline.mlflow_store` with its Secret's URI);
2. the Airflow connection `mlflow_conn_id` (the config's `registry.mlflow_conn_id`, default
   `mlflow_default`): its `extra.tracking_uri` (which may be a `sqlite:///...` store), or
   `<schema or http>://<host>:<port>`; login/password (or `extra.token`) become that client's own
   credentials (driftline.mlflow_auth), sent only to that server and never put in os.environ;
3. only when that connection does not exist AND the environment asks for it explicitly with
   `DRIFTLINE_MLFLOW_LOCAL_STORE=1`: a SQLite store under `DRIFTLINE_HOME/mlflow` (`make demo`
   sets it for its own process).
Otherwise a missing connection is MlflowConnectionError (permanent: names the connection and
how to add it), and any other failure reading it (a secrets backend that errs) is a retryable
RegistryError. `MLFLOW_TRACKING_URI` is not consulted here: `mlflow.set_tracking_uri` exports it
in-process, so it cannot tell an operator's intent from a previous task's side effect.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.hook import BaseHook
from driftline.exceptions import PermanentError, RegistryError
from driftline.mlflow_store import MlflowStore
from driftline.settings import driftline_home

if TYPE_CHECKING:
    from driftline.mlflow_auth import MlflowCredentials
    from mlflow.tracking import MlflowClient

LOCAL_STORE_ENV = "DRIFTLINE_MLFLOW_LOCAL_STORE"


class MlflowConnectionError(PermanentError):
    """The MLflow connection is missing or unusable as configured (no retry fixes it)."""


def default_tracking_uri() -> str:
    store = driftline_home() / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def local_store_enabled() -> bool:
    """True when the environment explicitly asks for the embedded SQLite store (`DRIFTLINE_MLFLOW_LOCAL_STORE`)."""
    return os.environ.get(LOCAL_STORE_ENV, "").strip().lower() in ("1", "true", "yes")


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
        """The Airflow connection, None when it does not exist; other failures raise RegistryError."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            return None
        except Exception as exc:  # a secrets backend or the API server failed: may be transient
            raise RegistryError(
                f"cannot read the MLflow connection {self.mlflow_conn_id!r} (registry.mlflow_conn_id): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    @cached_property
    def tracking_uri(self) -> str:
        if self._explicit_uri:
            return self._explicit_uri
        conn = self._connection()
        if conn is None:
            if local_store_enabled():
                self.log.info(
                    "MLflow connection %r does not exist and %s is set: using the local SQLite store",
                    self.mlflow_conn_id,
                    LOCAL_STORE_ENV,
                )
                return default_tracking_uri()
            env = "AIRFLOW_CONN_" + re.sub(r"\W", "_", self.mlflow_conn_id).upper()
            raise MlflowConnectionError(
                f"the MLflow connection {self.mlflow_conn_id!r} (registry.mlflow_conn_id) does not exist: add it "
                f"(UI: Admin > Connections, `airflow connections add {self.mlflow_conn_id} ...`, or {env}) with "
                "host/port or extra.tracking_uri; for a local SQLite store set "
                f"{LOCAL_STORE_ENV}=1 explicitly"
            )
        extra = conn.extra_dejson or {}
        explicit = extra.get("tracking_uri") or extra.get("extra__mlflow__tracking_uri")
        if explicit:
            uri = str(explicit)
        elif conn.host:
            scheme = conn.schema or "http"
            uri = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
        else:
            raise MlflowConnectionError(
                f"the MLflow connection {self.mlflow_conn_id!r} has neither a host nor extra.tracking_uri"
            )
        token = extra.get("token") or extra.get("extra__mlflow__token")
        if conn.login or conn.password or token:
            from driftline.mlflow_auth import MlflowCredentials

            self._credentials = MlflowCredentials(
                server=uri,
                username=conn.login or None,
                password=conn.password or None,
                token=str(token) if token else None,
            )
        return uri

    _credentials: MlflowCredentials | None = None

    @cached_property
    def store(self) -> MlflowStore:
        """The Airflow-free client wrapper the domain works with (driftline.mlflow_store); it carries
        this connection's credentials, if any, for this connection's server only."""
        uri = self.tracking_uri
        return MlflowStore(uri, credentials=self._credentials)

    @property
    def credentials(self) -> MlflowCredentials | None:
        """This connection's own MLflow credentials (None without a login), for this server only."""
        _ = self.tracking_uri
        return self._credentials

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
