"""A model's data generation: what its lookups depend on besides the entity id, re-read in the background.

`Generation(table, data, champion)`: `table` is the table lookups read (in snapshot mode the one the
pointer names, driftline.inference.snapshot); `data` changes whenever that table's content does (the
pointer's table in snapshot mode; in upsert mode the table's `__driftline#generation` seq, which
each run bumps once its last item is written, driftline.inference.runs); `champion` is the
champion's version. Cached answers are served only under the generation they were read in
(driftline.service.cache).

`GenerationTracker.current()` keeps reads off the event loop and the hot path: a value read less
than `max_age_s / 2` ago is returned as it is; an older one, up to `max_age_s`, is returned while a
refresh runs in the threadpool; past `max_age_s` (or before the first read, or after an idle spell)
the request waits for the refresh. So no answer is served under a generation read more than
`max_age_s` ago: a completed upsert run, a moved pointer or a moved alias (as the champion cache
sees it) reaches every lookup within `max_age_s` plus one read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    table: str | None
    data: Hashable | None
    champion: int | None

    @property
    def cacheable(self) -> bool:
        """False when there is nothing to key answers by (no table yet, no generation item yet)."""
        return self.table is not None and self.data is not None


class GenerationTracker:
    """One model's current Generation from `read()` (blocking I/O, run in the threadpool)."""

    def __init__(
        self,
        read: Callable[[], Generation],
        max_age_s: float,
        on_change: Callable[[Generation], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.max_age_s = max_age_s
        self._on_change = on_change
        self._clock = clock
        self._value: Generation | None = None
        self._read_at = -math.inf
        self._task: asyncio.Task[Generation] | None = None

    async def current(self) -> Generation:
        value = self._value
        age = self._clock() - self._read_at
        if value is not None and age < self.max_age_s:
            if age >= self.max_age_s / 2:
                self._refresh()  # in the background: this request goes on with `value`
            return value
        return await asyncio.shield(self._refresh())

    def _refresh(self) -> asyncio.Task[Generation]:
        """The refresh in flight on this loop, or a new one."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._task = loop.create_task(self._read_now())
            task.add_done_callback(_log_failure)
        return task

    async def _read_now(self) -> Generation:
        started = self._clock()
        value = await run_in_threadpool(self._read)
        if started >= self._read_at:  # an older read finishing late never overwrites a newer one
            if value != self._value:
                self._on_change(value)
            self._value, self._read_at = value, started
        return value


def _log_failure(task: asyncio.Task[Generation]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("reading the data generation failed: %s", task.exception())
