"""Concurrency harness: run the same set of runs in order and overlapped, compare the end states.

In the style of the fault harness (tests/integration/faults/harness.py): a *scenario* is a set of
runs (model, data day, champion version); a *schedule* says how they are started: in order (the
reference), all at once in threads (several data days of one model triggered together), one by
one in a shuffled order (backfills), or several models' runs together (a shared schedule: their
Airflow run ids are identical). Every cell of the matrix is one scenario under one schedule and
seed, and must reach the in-order end state: every DynamoDB item and meta item (the newest-data
marker, the generation's newest completed data time, the lock's token count), wall-clock fields
scrubbed.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VOLATILE = {"scored_at", "expires_at", "completed_at", "expires", "switched_at"}
SCHEDULES = ("in_order", "at_once", "shuffled", "reversed")


@dataclass(frozen=True)
class Run:
    model: str
    day: int  # days after the scenario's first data day
    version: int


@dataclass
class Cell:
    scenario: str
    schedule: str
    seed: int
    converged: bool
    seconds: float
    problems: list[str] = field(default_factory=list)


def order(runs: list[Run], schedule: str, seed: int) -> list[Run]:
    if schedule == "in_order":
        return sorted(runs, key=lambda r: (r.day, r.model))
    if schedule == "reversed":
        return sorted(runs, key=lambda r: (-r.day, r.model))
    shuffled = list(runs)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def execute(runs: list[Run], schedule: str, seed: int, one: Callable[[Run], Any]) -> list[str]:
    """Run `one` for every run per `schedule`; the errors (none expected)."""
    errors: list[str] = []
    ordered = order(runs, schedule, seed)
    if schedule != "at_once":
        for run in ordered:
            try:
                one(run)
            except Exception as exc:
                errors.append(f"{run}: {type(exc).__name__}: {exc}")
        return errors
    start = threading.Barrier(len(ordered))

    def go(run: Run) -> None:
        try:
            start.wait(60)
            time.sleep(random.Random(seed * 1000 + run.day).random() * 0.2)
            one(run)
        except Exception as exc:
            errors.append(f"{run}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=go, args=(run,)) for run in ordered]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return errors


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def table_state(client: Any, table: str) -> dict[str, Any]:
    """Every item of `table` keyed by its partition (and sort) key, scrubbed, as JSON-ready values."""
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    items: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            item = {k: d.deserialize(v) for k, v in raw.items()}
            key = "|".join(str(item.get(k, "")) for k in ("entity_id", "date"))
            items[key] = json.loads(json.dumps(scrub(item), default=str, sort_keys=True))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            out.append(f"{key}: missing")
        elif key not in expected:
            out.append(f"{key}: unexpected")
        elif expected[key] != actual[key]:
            e, a = expected[key], actual[key]
            fields = sorted(k for k in set(e) | set(a) if e.get(k) != a.get(k)) if isinstance(e, dict) else []
            out.append(f"{key}: {', '.join(f'{f} {e.get(f)!r} != {a.get(f)!r}' for f in fields[:3])}")
    return out


def format_matrix(cells: list[Cell]) -> str:
    """One row per scenario: a mark per schedule and seed (. converged, X diverged)."""
    lines = ["concurrency matrix (. reached the in-order end state, X diverged)"]
    schedules = [s for s in SCHEDULES if s != "in_order"]
    for scenario in dict.fromkeys(c.scenario for c in cells):
        marks = []
        for schedule in schedules:
            row = sorted(
                (c for c in cells if c.scenario == scenario and c.schedule == schedule), key=lambda c: c.seed
            )
            if row:
                marks.append(f"{schedule} {''.join('.' if c.converged else 'X' for c in row)}")
        lines.append(f"  {scenario:<26} " + "   ".join(marks))
    bad = [c for c in cells if not c.converged]
    lines.append(f"  {len(cells)} cells, {len(cells) - len(bad)} converged, {len(bad)} diverged")
    for c in bad[:10]:
        lines.append(f"  X {c.scenario} {c.schedule} seed {c.seed}: {'; '.join(c.problems)[:400]}")
    return "\n".join(lines)


class LinearizableMotoServer:
    """A moto server on loopback whose requests are applied one at a time.

    DynamoDB applies each conditional write to an item atomically; moto's threaded server does
    not (two conditional UpdateItems arriving together can both pass their condition against the
    same old item), which would let two runs both "take" the scoring lock. One lock around moto's
    WSGI app makes every request atomic, as DynamoDB's per-item writes are; clients stay concurrent.
    """

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        one_at_a_time = threading.Lock()

        def serialized(environ: Any, start_response: Any) -> Any:
            with one_at_a_time:
                return list(app(environ, start_response))

        self._server = make_server("127.0.0.1", 0, serialized, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(30)
