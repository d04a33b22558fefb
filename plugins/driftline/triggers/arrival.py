"""DataArrivalTrigger: poll a source in the triggerer until the window's data is there.

Each poll runs `driftline.data.arrival.check_arrival` in a worker thread
(`asyncio.to_thread`: the file system, S3Hook and DB-API hooks are blocking), so the
triggerer's event loop keeps serving its other triggers. It yields exactly one event:

- `{"status": "arrived", "arrival": {...}}` when every partition is there;
- `{"status": "timeout", "arrival": {...}, "error": str | None}` at the deadline, with the
  partitions still missing (and the last transient error, if the last poll failed);
- `{"status": "error", "message": str}` for a configuration error (the source's root, its
  connection or its table does not exist): waiting cannot fix it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from driftline.exceptions import DriftlineError, PermanentError


class DataArrivalTrigger(BaseTrigger):
    """Wait for the data of `[window_start, window_end)` of one source (see the module docstring).

    :param source: the source config as JSON (`LocalSource | S3Source | SqlSource` dumped).
    :param field: its config field, `data.source` or `data.labels`, named in errors.
    :param window_start: ISO timestamp (UTC) of the window's start.
    :param window_end: ISO timestamp (UTC) of the window's end.
    :param timestamp_col: the source's timestamp column (SQL checks).
    :param deadline: ISO timestamp (UTC) after which the trigger reports a timeout.
    :param poke_interval: seconds between two checks.
    :param freshness_query: SQL sources: a query returning the latest load time.
    """

    def __init__(
        self,
        *,
        source: dict[str, Any],
        field: str,
        window_start: str,
        window_end: str,
        timestamp_col: str,
        deadline: str,
        poke_interval: float,
        freshness_query: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self.source = source
        self.field = field
        self.window_start = window_start
        self.window_end = window_end
        self.timestamp_col = timestamp_col
        self.deadline = deadline
        self.poke_interval = float(poke_interval)
        self.freshness_query = freshness_query

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source": self.source,
                "field": self.field,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "timestamp_col": self.timestamp_col,
                "deadline": self.deadline,
                "poke_interval": self.poke_interval,
                "freshness_query": self.freshness_query,
            },
        )

    def check(self) -> dict[str, Any]:
        """One blocking check (run in a thread): the Arrival as a dict."""
        from pydantic import TypeAdapter

        from driftline.config.models import Source
        from driftline.data.arrival import check_arrival
        from driftline.data.windows import Window
        from driftline.hooks.sources import AirflowSourceAccess

        cfg = TypeAdapter(Source).validate_python(self.source)
        start = dt.datetime.fromisoformat(self.window_start)
        end = dt.datetime.fromisoformat(self.window_end)
        window = Window(start, end, "current", max(1, (end - start).days))
        arrival = check_arrival(
            cfg,
            window,
            timestamp_col=self.timestamp_col,
            field=self.field,
            freshness_query=self.freshness_query,
            access=AirflowSourceAccess(),
        )
        return arrival.to_dict()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        polls = 0
        while True:
            polls += 1
            error: str | None = None
            arrival: dict[str, Any] | None = None
            try:
                arrival = await asyncio.to_thread(self.check)
            except PermanentError as exc:
                yield TriggerEvent({"status": "error", "message": str(exc), "polls": polls})
                return
            except DriftlineError as exc:  # transient (S3 or database unreachable): poll again
                error = str(exc)
                self.log.warning("arrival check of %s failed, will poll again: %s", self.field, exc)
            if arrival is not None and arrival["arrived"]:
                yield TriggerEvent({"status": "arrived", "arrival": arrival, "polls": polls})
                return
            remaining = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "arrival": arrival, "error": error, "polls": polls})
                return
            if arrival is not None:
                self.log.info(
                    "%s: %d partition(s) still missing, next check in %.0fs: %s",
                    arrival["source"],
                    len(arrival["missing"]),
                    min(self.poke_interval, remaining),
                    arrival["missing"][:5],
                )
            await asyncio.sleep(min(self.poke_interval, remaining))
