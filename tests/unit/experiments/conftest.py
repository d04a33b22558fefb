"""One SQLite MLflow store per session for the experiment tests (creating one takes seconds)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def ab_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('ab-store') / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def ab_client(ab_store: Any) -> Any:
    """The session's store with a fresh registered model `churn` (no versions)."""
    for model in ab_store.search_registered_models():
        ab_store.delete_registered_model(model.name)
    ab_store.create_registered_model("churn")
    return ab_store
