"""The lookup response cache: bounded (LRU), valid for one data generation, with a TTL as a backstop.

A model's *generation* (driftline.service.generation) is what its answers depend on besides the
entity id: the table the pointer names (snapshot mode) or the table's generation item, which each
run bumps once its write has completed (upsert mode), and the champion's version. The tracker calls
`advance(model, generation)` when it reads a new one: the model's entries are dropped at once.
`get` and `put` take the generation the request saw: an answer read under a generation that has
moved on since is neither served nor stored. `None` is a generation that must not be cached (upsert
table without a generation item yet, no table to read).

An item's own expiry (its DynamoDB TTL attribute, driftline.service.store) goes with its entry:
an expired item is never served from the cache either. Entries expire after `ttl_s` whatever the generation: the bound on what no generation reports (a
writer killed midway, items changed outside Driftline's runs). Values are the serialized JSON
bodies, so a hit costs no serialization; misses (a 404) are cached as MISSING under the same rules.
`max_items=0` turns the cache off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()  # cached "no prediction"
DEFAULT_TTL_S = 600.0


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0


class ResponseCache:
    """`get(model, generation, key)` -> value, MISSING (a cached miss) or None (not cached)."""

    def __init__(
        self,
        max_items: int = 100_000,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        # (stored at, value, the item's own expiry in epoch seconds or None)
        self._entries: OrderedDict[tuple[str, Hashable], tuple[float, Any, float | None]] = OrderedDict()
        self._generations: dict[str, Hashable] = {}
        self.stats = CacheStats()

    @property
    def enabled(self) -> bool:
        return self.max_items > 0 and self.ttl_s > 0

    def advance(self, model: str, generation: Hashable | None) -> None:
        """The model's current generation; entries of any other one are dropped."""
        with self._lock:
            if model in self._generations and self._generations[model] == generation:
                return
            if model in self._generations:
                self.stats.invalidations += 1
            self._generations[model] = generation
            for key in [k for k in self._entries if k[0] == model]:
                del self._entries[key]

    def _current(self, model: str, generation: Hashable | None) -> bool:
        return generation is not None and self._generations.get(model) == generation

    def get(self, model: str, generation: Hashable | None, key: Hashable) -> Any:
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            entry = self._entries.get((model, key)) if self._current(model, generation) else None
            if (
                entry is None
                or now - entry[0] >= self.ttl_s
                or (entry[2] is not None and self.wall_clock() >= entry[2])
            ):
                if entry is not None:
                    del self._entries[(model, key)]
                self.stats.misses += 1
                return None
            self._entries.move_to_end((model, key))
            self.stats.hits += 1
            return entry[1]

    def put(
        self,
        model: str,
        generation: Hashable | None,
        key: Hashable,
        value: Any,
        expires_at: float | None = None,
    ) -> None:
        """Store `value` if `generation` is still the model's current one; `expires_at` (epoch
        seconds): the item's own TTL, after which the entry is never served."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            if not self._current(model, generation):
                return
            self._entries[(model, key)] = (now, value, expires_at)
            self._entries.move_to_end((model, key))
            while len(self._entries) > self.max_items:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
