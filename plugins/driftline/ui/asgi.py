"""The ASGI app the plugin mounts: builds the real FastAPI app on its first request.

Airflow imports plugins in every process (scheduler, workers, task processes); building the app
imports FastAPI and Airflow's API security module (about 2 s), so that only happens in the API
server, when the page is first opened.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

URL_PREFIX = "/driftline"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LazyApp:
    """An ASGI app that delegates to `driftline.ui.app.create_app()`, built once on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from driftline.ui.app import create_app

                self._app = create_app()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app if self._app is not None else self._build()
        await app(scope, receive, send)


app = LazyApp()
