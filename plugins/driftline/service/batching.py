"""Micro-batching: the rows of concurrent /score requests go to the model in one predict call.

One `MicroBatcher` per compiled champion version (a Scorer). A request puts its matrix on an
asyncio queue and awaits its slice of the result. One task per batcher takes what is queued (up
to `max_rows` rows; a request is never split), waits at most `max_wait_s` for more when the batch
is not full, and runs `Scorer.score` on the concatenated rows in its own thread, so the event loop
goes on reading and checking the next requests while the model runs: those make up the next batch.
Under load batches grow by themselves (requests arrive while the model runs); a lone request waits
at most `max_wait_s` (default 0: it is scored at once).

When the champion moves, the new Scorer gets a new batcher and the old one finishes what it holds
(`close()` drains it), so no request is lost or scored by a mix of versions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from driftline.service.scorer import Scored, Scorer

DEFAULT_MAX_ROWS = 1024
DEFAULT_MAX_WAIT_S = 0.0


@dataclass
class _Job:
    X: np.ndarray
    future: asyncio.Future[Scored]


class MicroBatcher:
    """`await submit(X)` -> the Scored rows of X, scored together with concurrent submissions."""

    def __init__(
        self,
        scorer: Scorer,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.scorer = scorer
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"score-{scorer.model_name}-v{scorer.version}"
        )

    def _start(self) -> asyncio.Queue[_Job | None]:
        loop = asyncio.get_running_loop()
        if (
            self._queue is None
            or self._task is None
            or self._task.get_loop() is not loop
            or self._task.done()
        ):
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue))
        return self._queue

    async def submit(self, X: np.ndarray) -> Scored:
        queue = self._start()
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Job(X, future))
        return await future

    async def close(self) -> None:
        """Score what is queued, then stop (a reload's old version)."""
        if self._queue is not None and self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await self._task
        self._executor.shutdown(wait=False)

    async def _run(self, queue: asyncio.Queue[_Job | None]) -> None:
        loop = asyncio.get_running_loop()
        pending: _Job | None = None
        stopping = False
        while not stopping:
            first = pending if pending is not None else await queue.get()
            pending = None
            if first is None:
                break
            batch = [first]
            rows = len(first.X)
            waited = False
            while rows < self.max_rows:
                try:
                    job = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if waited or self.max_wait_s <= 0:
                        break
                    waited = True
                    await asyncio.sleep(self.max_wait_s)
                    continue
                if job is None:
                    stopping = True
                    break
                if rows + len(job.X) > self.max_rows:
                    pending = job  # starts the next batch: a request is never split
                    break
                batch.append(job)
                rows += len(job.X)
            await self._score(loop, batch, rows)

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[_Job], rows: int) -> None:
        import numpy as np

        try:
            X = batch[0].X if len(batch) == 1 else np.concatenate([job.X for job in batch])
            scored = await loop.run_in_executor(self._executor, self.scorer.score, X)
        except Exception as exc:
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(batch), rows)
        at = 0
        for job in batch:
            n = len(job.X)
            if not job.future.done():
                job.future.set_result(scored if len(batch) == 1 else scored.rows(at, at + n))
            at += n


def submit_sync(batcher: MicroBatcher, X: Any) -> Scored:
    """Score X through `batcher` from a thread with no running loop (the warm-up)."""
    return asyncio.run(batcher.submit(X))
