"""A parse-time cache of validated configs, keyed by the bytes they were validated from.

The DAG processor re-parses the DAG file every few seconds, and reading YAML is the largest
part of building a model's DAGs. A config that validated is stored as pydantic JSON under
`DRIFTLINE_HOME/cache/configs/<sha256>.json`, where the hash covers the model file's bytes,
the shared defaults' bytes and the Driftline version; a later parse of the same bytes loads
that JSON (parsed and re-validated by pydantic-core, no YAML) instead. Only valid configs are
cached, so every error is always reported from the file itself; a changed file is a new key.
The cache is an optimisation only: when its folder cannot be read or written it is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from driftline.config.models import ModelConfig
from driftline.settings import driftline_home

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    return driftline_home() / "cache" / "configs"


def cache_key(file_bytes: bytes, defaults_bytes: bytes) -> str:
    from driftline import __version__

    digest = hashlib.sha256()
    for part in (__version__.encode(), defaults_bytes, b"\0", file_bytes):
        digest.update(part)
    return digest.hexdigest()


def get(key: str) -> ModelConfig | None:
    try:
        return ModelConfig.model_validate_json((cache_dir() / f"{key}.json").read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def put(key: str, config: ModelConfig) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(config.model_dump_json(), encoding="utf-8")
        tmp.replace(folder / f"{key}.json")
    except OSError as exc:  # a read-only state folder only costs speed
        log.debug("config cache not written (%s): %s", folder, exc)
