"""The lookup response cache: bounded (LRU), entries expire after a TTL, keyed by a data generation.

A model's *generation* is what its answers depend on besides the entity id: the table the pointer
names (snapshot mode; the configured table in upsert mode) and the champion's version. When the
generation a request sees differs from the one the cached entries were made under, that model's
entries are dropped at once (the pointer moved to a new import, or the alias moved). The TTL bounds
how stale an upsert-mode answer can be while a batch overwrites items in place. Misses (no
prediction: a 404) are cached too, under the same rules. `max_items=0` turns the cache off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()  # cached "no prediction"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0


class ResponseCache:
    """`get(model, generation, key)` -> value, MISSING (a cached miss) or None (not cached)."""

    def __init__(
        self, max_items: int = 100_000, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, Hashable], tuple[float, Any]] = OrderedDict()
        self._generations: dict[str, Hashable] = {}
        self.stats = CacheStats()

    @property
    def enabled(self) -> bool:
        return self.max_items > 0 and self.ttl_s > 0

    def _check_generation(self, model: str, generation: Hashable) -> None:
        """Drop the model's entries when its generation moved (called with the lock held)."""
        if self._generations.get(model, generation) != generation:
            for key in [k for k in self._entries if k[0] == model]:
                del self._entries[key]
            self.stats.invalidations += 1
        self._generations[model] = generation

    def get(self, model: str, generation: Hashable, key: Hashable) -> Any:
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            self._check_generation(model, generation)
            entry = self._entries.get((model, key))
            if entry is None or now - entry[0] >= self.ttl_s:
                if entry is not None:
                    del self._entries[(model, key)]
                self.stats.misses += 1
                return None
            self._entries.move_to_end((model, key))
            self.stats.hits += 1
            return entry[1]

    def put(self, model: str, generation: Hashable, key: Hashable, value: Any) -> None:
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            self._check_generation(model, generation)
            self._entries[(model, key)] = (now, value)
            self._entries.move_to_end((model, key))
            while len(self._entries) > self.max_items:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
