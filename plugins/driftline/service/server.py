"""Build the service from the configs folder and the environment; `driftline serve` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.config.models import InferenceSection, ModelConfig


def load_served_configs(folder: Path) -> dict[str, ModelConfig]:
    """The valid configs of `folder` by model name (invalid files are the DAG processor's business)."""
    from driftline.config.loader import load_folder

    loaded = load_folder(folder)
    return {c.model.name: c for c in loaded.configs.values()}


def dynamodb_client(cfg: InferenceSection) -> Any:
    """The table's client from its Airflow AWS connection (`AIRFLOW_CONN_<ID>` or the metadata DB)."""
    from driftline.hooks.dynamodb import DriftlineDynamoDBHook

    return DriftlineDynamoDBHook(aws_conn_id=cfg.conn_id, writers=16).client


def mlflow_champions(ttl_s: float = 30.0) -> Any:
    """A ChampionCache over the MLflow registry (MlflowHook's tracking URI)."""
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.champion import read_aliases
    from driftline.service.champion import ChampionCache

    hook = MlflowHook()

    def resolve(name: str) -> int | None:
        aliases = read_aliases(hook, name)
        return None if not aliases else aliases.get("champion")

    def load(name: str, version: int) -> Any:
        import mlflow.sklearn

        hook.client  # noqa: B018 - sets MLflow's tracking and registry URIs
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")

    return ChampionCache(resolve, load, ttl_s=ttl_s)


def build_app(folder: Path, keys_file: Path | None = None) -> Any:
    from driftline.service.app import create_app
    from driftline.service.auth import load_key_hashes

    hashes = load_key_hashes(keys_file)
    return create_app(load_served_configs(folder), dynamodb_client, hashes, mlflow_champions())
