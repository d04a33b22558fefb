"""Build the service from the configs folder and the environment; `driftline serve` runs it.

`serve()` runs uvicorn with `workers` processes (default: one per core, at most 4; `--workers`).
With more than one, uvicorn's supervisor binds the socket and starts each worker from the import
string `driftline.service.server:app_from_env` (the configs folder and keys file travel in
DRIFTLINE_SERVICE_CONFIGS / DRIFTLINE_SERVICE_KEYS_FILE); the configs and keys are checked in the
parent first, so a bad file fails `driftline serve` at once rather than in every worker. Each worker
loads and warms up the champions before it accepts a connection (driftline.service.live), and the
workers take new connections in turn, so keep-alive connections opened in a burst spread evenly
over them (driftline.service.balance); BLAS and OpenMP threads are split between the workers
(OMP_NUM_THREADS = cores // workers unless set).
"""

from __future__ import annotations

import os
import tempfile
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
ACCESS_LOG_VAR = "DRIFTLINE_SERVICE_ACCESS_LOG"


def access_log() -> bool:
    """uvicorn's per-request access log, off unless DRIFTLINE_SERVICE_ACCESS_LOG=1: a log line per
    request costs more than a one-row score; request counts and latencies are in /metrics."""
    return os.environ.get(ACCESS_LOG_VAR, "0").strip().lower() in ("1", "true", "yes")


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


MAX_BODY_VAR = "DRIFTLINE_SERVICE_MAX_BODY_BYTES"
MAX_WAIT_VAR = "DRIFTLINE_SERVICE_BATCH_WAIT_MS"
STARTUP_VAR = "DRIFTLINE_SERVICE_STARTUP_TIMEOUT_S"
CHAMPION_TTL_VAR = "DRIFTLINE_SERVICE_CHAMPION_TTL_S"
CONFIGS_VAR = "DRIFTLINE_SERVICE_CONFIGS"
KEYS_VAR = "DRIFTLINE_SERVICE_KEYS_FILE"
HEALTHCHECK_VAR = "DRIFTLINE_SERVICE_WORKER_HEALTHCHECK_S"


def settings() -> Any:
    """The service's limits and timings from the environment: DRIFTLINE_SERVICE_MAX_BODY_BYTES
    (default 1 MiB), DRIFTLINE_SERVICE_BATCH_WAIT_MS (default 0: a batch takes what is queued, no
    wait), DRIFTLINE_SERVICE_STARTUP_TIMEOUT_S (default 120)."""
    from driftline.service.app import ServiceSettings
    from driftline.service.security import DEFAULT_MAX_BODY_BYTES

    return ServiceSettings(
        max_body_bytes=int(_number(MAX_BODY_VAR, str(DEFAULT_MAX_BODY_BYTES))),
        max_wait_s=_number(MAX_WAIT_VAR, "0") / 1000,
        startup_timeout_s=_number(STARTUP_VAR, "120"),
    )


def build_app(folder: Path, keys_file: Path | None = None) -> Any:
    from driftline.service.app import create_app
    from driftline.service.auth import load_key_hashes

    hashes = load_key_hashes(keys_file)
    configs = load_served_configs(folder)
    conn_ids = {c.registered_model_name: c.registry.mlflow_conn_id for c in configs.values()}
    by_name = {c.registered_model_name: c for c in configs.values()}
    champions = mlflow_champions(conn_ids, configs=by_name, ttl_s=_number(CHAMPION_TTL_VAR, "30"))
    return create_app(
        configs, dynamodb_client, hashes, champions, response_cache(), pointer_ttl_s(), settings()
    )


def app_from_env() -> Any:
    """The app of one worker process (uvicorn's factory import string under `--workers N`)."""
    keys = os.environ.get(KEYS_VAR)
    return build_app(Path(os.environ[CONFIGS_VAR]), Path(keys) if keys else None)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def serve(folder: Path, keys_file: Path | None, host: str, port: int, workers: int | None = None) -> None:
    """Run the service (blocks). See the module docstring for the workers."""
    import uvicorn

    from driftline.service.auth import load_key_hashes

    workers = workers or default_workers()
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    # fail here, once, before any worker starts
    load_key_hashes(keys_file)
    load_served_configs(folder)
    settings()
    log_config = uvicorn.config.LOGGING_CONFIG
    # One OpenMP/BLAS thread per core and worker: a one-row predict gains nothing from a thread
    # team, and on a busy machine spinning teams of several processes cost more than they give.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    if workers == 1:
        uvicorn.run(
            build_app(folder, keys_file), host=host, port=port, log_config=log_config, access_log=access_log()
        )
        return
    from driftline.service.metrics import MULTIPROC_VAR

    os.environ[CONFIGS_VAR] = str(folder.resolve())
    if keys_file is not None:
        os.environ[KEYS_VAR] = str(keys_file.resolve())
    from driftline.service.balance import BOARD_VAR, BalancedMultiprocess, create_board

    with tempfile.TemporaryDirectory(prefix="driftline-service-metrics-") as metrics_dir:
        os.environ[MULTIPROC_VAR] = metrics_dir  # the workers' shared metric files (prometheus_client)
        board = Path(metrics_dir) / "connections.board"  # (a file prometheus_client does not read)
        create_board(board, workers)
        os.environ[BOARD_VAR] = str(board)
        config = uvicorn.Config(
            "driftline.service.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            access_log=access_log(),
            # uvicorn restarts a worker that misses its supervisor's ping for this long: a worker
            # importing MLflow and warming up a model on a busy machine can be silent for seconds
            timeout_worker_healthcheck=int(_number(HEALTHCHECK_VAR, "60")),
        )
        # uvicorn's supervisor, its workers accepting connections evenly (driftline.service.balance)
        BalancedMultiprocess(config, sockets=[config.bind_socket()]).run()
