"""The champion for on-demand scoring: loaded from MLflow by alias, reloaded when the alias moves.

The alias's version is checked at most every `ttl_s` seconds; a moved alias loads the new version.
`version(name)` reads the same version without loading the model (the lookup cache's generation).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


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
        self._versions: dict[str, tuple[int | None, float]] = {}

    def version(self, name: str) -> int | None:
        """The champion's version, re-read at most every `ttl_s`; when the registry cannot be read the
        last known version is kept (logged): lookups must not fail because MLflow is down."""
        now = self._clock()
        with self._lock:
            known = self._versions.get(name)
            if known is not None and now - known[1] < self.ttl_s:
                return known[0]
        try:
            version = self._resolve(name)
        except Exception as exc:
            log.warning(
                "cannot read the champion of %s, keeping version %s: %s", name, known and known[0], exc
            )
            version = known[0] if known else None
        with self._lock:
            self._versions[name] = (version, now)
        return version

    def get(self, name: str) -> tuple[int, Any] | None:
        """(version, model) of the champion; the version as `version()` reads it (one TTL for both,
        so a lookup's generation and the scoring model move together), but a registry that cannot be
        read raises here: the caller decides whether to keep serving what it has."""
        now = self._clock()
        with self._lock:
            known = self._versions.get(name)
            if known is not None and now - known[1] < self.ttl_s:
                version = known[0]
            else:
                version = self._resolve(name)
                self._versions[name] = (version, now)
            cached = self._models.get(name)
            if version is None:
                self._models.pop(name, None)
                return None
            if cached is not None and cached.version == version:
                cached.checked_at = now
                return version, cached.model
            loaded = Loaded(version, self._load(name, version), now)
            self._models[name] = loaded
            return loaded.version, loaded.model
