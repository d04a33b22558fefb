"""The champions the service scores with: loaded, compiled and warmed up before it is ready, swapped
without a pause when the alias moves.

`LiveChampions.start()` (the app's start-up, before the worker accepts a connection) loads each
served model's champion through the ChampionCache, compiles it (driftline.service.scorer) and warms
it up: the request path (checking and encoding rows) and predict on one row and on a full batch,
so the first real request pays no lazy import, no thread-pool start and no first-call cost. It
waits at most `startup_timeout_s`; what is not loaded by then goes on loading in the background
and the worker is not ready meanwhile.

`ready` means: every model's champion is loaded and warmed up, or the registry says the model has no
champion yet (it is served for lookups; /score answers 404 until one is promoted). A registry that
cannot be read at start-up is not ready.

A refresh task re-reads each alias every `ChampionCache.ttl_s`. A moved alias loads, compiles and
warms up the new version in a thread while requests go on with the old one, then swaps: requests
already queued finish on the old version (its batcher drains), new ones take the new version. A
registry that cannot be read keeps the version being served (logged; credentials redacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from driftline.config.models import ModelConfig
from driftline.service.batching import DEFAULT_MAX_ROWS, DEFAULT_MAX_WAIT_S, MicroBatcher
from driftline.service.champion import ChampionCache
from driftline.service.security import redact

if TYPE_CHECKING:
    from driftline.service.metrics import Metrics
    from driftline.service.scorer import Scorer

log = logging.getLogger(__name__)

STARTING, READY, NO_CHAMPION, FAILED = "starting", "ready", "no_champion", "failed"


@dataclass
class ModelState:
    name: str
    config: ModelConfig
    state: str = STARTING
    scorer: Scorer | None = None
    batcher: MicroBatcher | None = None
    error: str | None = None
    warmup_ms: float | None = None
    loaded_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.scorer is not None:
            out.update(version=self.scorer.version, mode=self.scorer.mode, warmup_ms=self.warmup_ms)
        if self.error:
            out["error"] = self.error
        return out


class LiveChampions:
    def __init__(
        self,
        configs: dict[str, ModelConfig],
        champions: ChampionCache | None,
        metrics: Metrics | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.champions = champions
        self.metrics = metrics
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.startup_timeout_s = startup_timeout_s
        self.models = {name: ModelState(name, config) for name, config in configs.items()}
        self._refresher: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        return all(m.state in (READY, NO_CHAMPION) for m in self.models.values())

    def describe(self) -> dict[str, Any]:
        return {name: m.describe() for name, m in sorted(self.models.items())}

    # ---- loading ---------------------------------------------------------------------------------
    def refresh(self, name: str) -> tuple[Scorer, MicroBatcher] | None:
        """Bring `name` to the registry's champion (blocking: a thread). Returns the replaced
        (scorer, batcher) for the caller to drain, or None."""
        state = self.models[name]
        if self.champions is None:
            state.state, state.error = NO_CHAMPION, "on-demand scoring is not configured (no model registry)"
            return None
        with state.lock:
            try:
                loaded = self.champions.get(state.config.registered_model_name)
            except Exception as exc:
                message = redact(f"cannot read the champion of {state.config.registered_model_name}: {exc}")
                if state.scorer is None:
                    state.state, state.error = FAILED, message
                log.warning("%s%s", message, "" if state.scorer is None else "; serving the loaded version")
                return None
            if loaded is None:
                old = (state.scorer, state.batcher) if state.scorer is not None and state.batcher else None
                state.state, state.scorer, state.batcher, state.error = NO_CHAMPION, None, None, None
                self._gauge(name, 0)
                return old
            version, model = loaded
            if state.scorer is not None and state.scorer.version == version:
                return None
            try:
                scorer, batcher, warmup_ms = self._prepare(name, state.config, version, model)
            except Exception as exc:
                message = redact(f"model {name!r} version {version} cannot be served: {exc}")
                log.error("%s", message)
                if state.scorer is None:
                    state.state, state.error = FAILED, message
                return None
            old = (state.scorer, state.batcher) if state.scorer is not None and state.batcher else None
            state.scorer, state.batcher, state.warmup_ms = scorer, batcher, warmup_ms
            state.state, state.error, state.loaded_at = READY, None, time.time()
            self._gauge(name, version)
            log.info(
                "model %s: serving version %s (%s mode, warm-up %.0f ms)",
                name,
                version,
                scorer.mode,
                warmup_ms,
            )
            return old

    def _prepare(
        self, name: str, config: ModelConfig, version: int, model: Any
    ) -> tuple[Scorer, MicroBatcher, float]:
        from driftline.service.scorer import compile_scorer, probe_rows

        started = time.perf_counter()
        scorer = compile_scorer(model, config, version, name)
        on_batch = None
        if self.metrics is not None:
            metrics = self.metrics

            def on_batch(requests: int, rows: int) -> None:
                metrics.batch(name, requests, rows)

        batcher = MicroBatcher(scorer, self.max_rows, self.max_wait_s, on_batch)
        for n in (1, 8, self.max_rows, 1):  # the request path and predict at the sizes it will meet
            _, X = scorer.matrix({"rows": probe_rows(scorer, n)}, self.max_rows)
            scorer.score(X)
        return scorer, batcher, (time.perf_counter() - started) * 1000

    def _gauge(self, name: str, version: int) -> None:
        if self.metrics is not None:
            self.metrics.champion.labels(name).set(version)
            self.metrics.ready.set(1 if self.ready else 0)

    async def current(self, name: str) -> ModelState:
        """The model's state; loads the champion first if nothing ever tried (an app run without
        its start-up, e.g. a test client outside `with`)."""
        state = self.models[name]
        if state.scorer is None and state.state == STARTING:
            await run_in_threadpool(self.refresh, name)
        return state

    # ---- the app's lifespan ------------------------------------------------------------------
    async def start(self) -> None:
        loads = [asyncio.ensure_future(run_in_threadpool(self.refresh, n)) for n in self.models]
        if loads:
            _, pending = await asyncio.wait(loads, timeout=self.startup_timeout_s)
            if pending:
                log.warning(
                    "%d champion(s) not loaded within %.0f s: the service starts not ready and goes on loading",
                    len(pending),
                    self.startup_timeout_s,
                )
        if self.metrics is not None:
            self.metrics.ready.set(1 if self.ready else 0)
        freeze_startup_heap()
        if self.champions is not None and self.models:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop(self.champions.ttl_s))

    async def _refresh_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(max(every_s, 0.05))
            for name in self.models:
                try:
                    old = await run_in_threadpool(self.refresh, name)
                except Exception:
                    log.exception("refreshing the champion of %s failed", name)
                    continue
                if old is not None:
                    await self.retire(old[1])

    async def retire(self, batcher: MicroBatcher) -> None:
        """Drain a replaced version's batcher in the background."""
        task = asyncio.get_running_loop().create_task(batcher.close())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresher
        for state in self.models.values():
            if state.batcher is not None:
                await state.batcher.close()


def freeze_startup_heap() -> None:
    """Move everything start-up allocated (imports, the champions, their compiled scorers) out of the
    garbage collector's reach (`gc.freeze`): a full collection then walks only what requests allocate,
    so it no longer pauses a request for the whole heap of MLflow, pandas and scikit-learn (tail latency).
    """
    import gc

    gc.collect()
    gc.freeze()
