"""MLflow without Airflow: the client the domain (training, registry, drift) works with.

`MlflowAccess` is what the domain asks for: an object with a `tracking_uri` and an `MlflowClient`
(`client`). `MlflowStore` is the plain implementation (a tracking URI -> a lazily built client);
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
    """A tracking/registry URI and its MlflowClient (built on first use; mlflow imported then)."""

    def __init__(self, tracking_uri: str) -> None:
        if not tracking_uri:
            raise ValueError("MlflowStore needs a tracking URI")
        self.tracking_uri = tracking_uri

    @property
    def is_local_store(self) -> bool:
        """True when MLflow writes straight to a local database (no server in between)."""
        return self.tracking_uri.startswith(LOCAL_SCHEMES)

    @cached_property
    def client(self) -> MlflowClient:
        import mlflow
        from mlflow.tracking import MlflowClient

        from driftline.timeouts import bound_mlflow_http

        bound_mlflow_http()  # every request bounded by external_timeout_s, MLflow's own retries off
        # The fluent API (mlflow.start_run, log_model) follows the same store.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
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
