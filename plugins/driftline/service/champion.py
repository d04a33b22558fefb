"""The champion for on-demand scoring: loaded from MLflow by alias, reloaded when the alias moves.

The alias's version is checked at most every `ttl_s` seconds; a moved alias loads the new version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Loaded:
    version: int
    model: Any
    checked_at: float


class ChampionCache:
    """`get(name)` -> (version, model), the version read through `resolve(name)` every `ttl_s`."""

    def __init__(
        self,
        resolve: Callable[[str], int | None],
        load: Callable[[str, int], Any],
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolve = resolve
        self._load = load
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, Loaded] = {}

    def get(self, name: str) -> tuple[int, Any] | None:
        now = self._clock()
        with self._lock:
            cached = self._models.get(name)
            if cached is not None and now - cached.checked_at < self.ttl_s:
                return cached.version, cached.model
            version = self._resolve(name)
            if version is None:
                self._models.pop(name, None)
                return None
            if cached is not None and cached.version == version:
                cached.checked_at = now
                return version, cached.model
            loaded = Loaded(version, self._load(name, version), now)
            self._models[name] = loaded
            return loaded.version, loaded.model
