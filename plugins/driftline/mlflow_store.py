"""MLflow without Airflow: the client the domain (training, registry, drift) works with.

`MlflowAccess` is what the domain asks for: an object with a `tracking_uri` and an `MlflowClient`
(`client`). `MlflowStore` is the plain implementation (a tracking URI, and optionally that server's
own `MlflowCredentials` -> a lazily built client carrying them; see driftline.mlflow_auth);
`driftline.hooks.mlflow.MlflowHook` is the Airflow one (the URI from an Airflow connection) and
delegates to an `MlflowStore`. The training pod builds an `MlflowStore` from `MLFLOW_TRACKING_URI`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from driftline.settings import driftline_home

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from driftline.mlflow_auth import MlflowCredentials

LOCAL_SCHEMES = ("sqlite:", "file:", "/")
# The experiment-kind tag MLflow 3.17's UI reads (its JS bundle: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT);
# an untagged experiment's kind is inferred, and Driftline's were opened in the GenAI view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND_ML = "custom_model_development"


class MlflowAccess(Protocol):
    """What the domain needs from MLflow: where it is and a client for it."""

    @property
    def tracking_uri(self) -> str: ...

    @property
    def client(self) -> MlflowClient: ...


def default_artifact_root() -> Path:
    return driftline_home() / "mlflow" / "artifacts"


class MlflowStore:
    """A tracking/registry URI and its MlflowClient (built on first use; mlflow imported then).

    With `credentials`, the client sends them (and only them) to that server on every request,
    artifacts included; nothing goes through the process environment.
    """

    def __init__(self, tracking_uri: str, credentials: MlflowCredentials | None = None) -> None:
        if not tracking_uri:
            raise ValueError("MlflowStore needs a tracking URI")
        self.tracking_uri = tracking_uri
        self.credentials = credentials

    @property
    def is_local_store(self) -> bool:
        """True when MLflow writes straight to a local database (no server in between)."""
        return self.tracking_uri.startswith(LOCAL_SCHEMES)

    def use_for_fluent_api(self) -> None:
        """Point MLflow's process-wide fluent API (mlflow.start_run, log_model) at this store.

        Only training, which logs through the fluent API, calls this; a client never changes
        process-wide state (another connection in the same process, e.g. the service's, must not
        start talking to this server). `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI.
        """
        import mlflow

        from driftline.timeouts import bound_mlflow_http

        bound_mlflow_http()  # every request bounded by external_timeout_s, MLflow's own retries off
        # The fluent API (mlflow.start_run, log_model) follows the same store.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    @cached_property
    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        from driftline.timeouts import bound_mlflow_http

        bound_mlflow_http()  # every request bounded by external_timeout_s, MLflow's own retries off
        if self.credentials is not None:
            from driftline.mlflow_auth import credentialed_client, is_http

            if is_http(self.tracking_uri):
                client: MlflowClient = credentialed_client(self.tracking_uri, self.credentials)
                return client
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def get_or_create_experiment(self, name: str) -> str:
        """The experiment id for `name`, created with a local artifact root when the store is local.

        Driftline's experiments are marked as machine-learning experiments, so MLflow 3's UI opens
        them in its classic view (runs, metrics, models) rather than the GenAI view (traces); an
        experiment that already carries a kind keeps it.
        """
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            if EXPERIMENT_KIND_TAG not in (existing.tags or {}):
                self.client.set_experiment_tag(
                    existing.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND_ML
                )
            return str(existing.experiment_id)
        location = (default_artifact_root() / name).as_uri() if self.is_local_store else None
        try:
            return str(
                self.client.create_experiment(
                    name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND_ML}
                )
            )
        except Exception:
            again = self.client.get_experiment_by_name(name)  # created concurrently
            if again is None:
                raise
            return str(again.experiment_id)
