"""Build the service from the configs folder and the environment; `driftline serve` runs it."""

from __future__ import annotations

import os
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


def mlflow_champions(
    conn_ids: dict[str, str], ttl_s: float = 30.0, configs: dict[str, ModelConfig] | None = None
) -> Any:
    """A ChampionCache over the MLflow registry; `conn_ids` maps registered model names to their
    MLflow Airflow connection (`registry.mlflow_conn_id`), `configs` to their configs (which
    serialization formats each model's artifacts are trusted with; none: skops only)."""
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.champion import read_aliases
    from driftline.service.champion import ChampionCache

    hooks = {conn_id: MlflowHook(conn_id) for conn_id in set(conn_ids.values())}

    def resolve(name: str) -> int | None:
        aliases = read_aliases(hooks[conn_ids[name]], name)
        return None if not aliases else aliases.get("champion")

    def load(name: str, version: int) -> Any:
        from driftline.registry.models import load_model_version

        return load_model_version(hooks[conn_ids[name]], name, version, (configs or {}).get(name))

    return ChampionCache(resolve, load, ttl_s=ttl_s)


CACHE_ITEMS_VAR = "DRIFTLINE_SERVICE_CACHE_ITEMS"
CACHE_TTL_VAR = "DRIFTLINE_SERVICE_CACHE_TTL_S"
POINTER_TTL_VAR = "DRIFTLINE_SERVICE_POINTER_TTL_S"


def _number(name: str, default: str) -> float:
    from driftline.exceptions import ConfigError

    raw = os.environ.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, [f"expected a number, got {raw!r}"]) from None
    if value < 0:
        raise ConfigError(name, [f"must be >= 0, got {raw!r}"])
    return value


def response_cache() -> Any:
    """The lookup cache sized by the environment: DRIFTLINE_SERVICE_CACHE_ITEMS (default 100000,
    0 turns it off) and DRIFTLINE_SERVICE_CACHE_TTL_S (default 600: entries stay valid until the
    data generation moves, this is only the backstop for changes no generation reports)."""
    from driftline.service.cache import DEFAULT_TTL_S, ResponseCache

    return ResponseCache(
        max_items=int(_number(CACHE_ITEMS_VAR, "100000")), ttl_s=_number(CACHE_TTL_VAR, str(DEFAULT_TTL_S))
    )


def pointer_ttl_s() -> float:
    """DRIFTLINE_SERVICE_POINTER_TTL_S (default 5): how often each model's generation (pointer,
    generation item, champion version) is re-read, so how soon a completed run reaches lookups."""
    return _number(POINTER_TTL_VAR, "5")


def build_app(folder: Path, keys_file: Path | None = None) -> Any:
    from driftline.service.app import create_app
    from driftline.service.auth import load_key_hashes

    hashes = load_key_hashes(keys_file)
    configs = load_served_configs(folder)
    conn_ids = {c.registered_model_name: c.registry.mlflow_conn_id for c in configs.values()}
    by_name = {c.registered_model_name: c for c in configs.values()}
    return create_app(
        configs,
        dynamodb_client,
        hashes,
        mlflow_champions(conn_ids, configs=by_name),
        response_cache(),
        pointer_ttl_s(),
    )
