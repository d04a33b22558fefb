"""Fault injection: fail the k-th call a step makes to an external system, retry, compare end states.

External systems are the MLflow client (every method of `hook.client`), the snapshot store
(`driftline.data.snapshots.write_bytes/read_bytes/exists/remove`), the data source
(`driftline.data.sources.load_window`) and alert delivery (`driftline.alerting.emit_alert`). A fault
is an `InjectedFault` (not a transient error, so no in-process retry absorbs it: it ends the try the
way a killed worker does) raised either *before* the call (the call never happened) or *after* it
(the call took effect, its answer was lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("before", "after")
VOLATILE = {
    "at",
    "decided_at",
    "quarantined_at",
    "created_at",
    "elapsed_s",
    "try",
    "try_number",
    "driftline.registered_at",
    "driftline.promoted_at",
    "driftline.gate.at",
}


class InjectedFault(Exception):
    """The fault the harness injects (deliberately not a transient error)."""


@dataclass
class Faults:
    """Counts external calls; raises on call number `k` (None: never)."""

    k: int | None = None
    mode: str = "before"
    calls: int = 0
    fired: bool = False
    names: list[str] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)  # every alert delivered (emit_alert ran)

    def hit(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.names.append(name)
        here = self.calls == self.k
        if here and self.mode == "before":
            self.fired = True
            raise InjectedFault(f"{name}: call {self.k} failed before it ran")
        out = fn(*args, **kwargs)
        if here and self.mode == "after":
            self.fired = True
            raise InjectedFault(f"{name}: call {self.k} ran, its answer was lost")
        return out

    def disarm(self) -> None:
        self.k = None


class FaultyClient:
    """An MlflowClient proxy whose every method call goes through `Faults.hit`."""

    def __init__(self, real: Any, faults: Faults) -> None:
        self._real = real
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return self._faults.hit(f"mlflow.{name}", attr, *args, **kwargs)

        return wrapped


@contextlib.contextmanager
def faulty_systems(monkeypatch: Any, faults: Faults, hooks: list[Any]) -> Iterator[None]:
    """Route the step's external calls through `faults` for the duration of the block."""
    from driftline import alerting
    from driftline.data import snapshots, sources

    with monkeypatch.context() as m:
        for hook in hooks:
            real = hook.__dict__.get("client") or hook.client
            m.setitem(hook.__dict__, "client", FaultyClient(real, faults))
        for name in ("write_bytes", "read_bytes", "exists", "remove"):
            fn = getattr(snapshots, name)
            m.setattr(snapshots, name, _wrap(faults, f"store.{name}", fn))
        m.setattr(sources, "load_window", _wrap(faults, "source.load_window", sources.load_window))
        real_emit = alerting.emit_alert

        def deliver(event: Any) -> None:
            real_emit(event)
            faults.alerts.append(event)

        m.setattr(alerting, "emit_alert", _wrap(faults, "alert.emit", deliver))
        yield


def _wrap(faults: Faults, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return faults.hit(name, fn, *args, **kwargs)

    return wrapped


# --- end states ---------------------------------------------------------------------------


def scrub(value: Any) -> Any:
    """`value` without wall-clock times, try numbers and random op ids (they differ between any two runs)."""
    if isinstance(value, dict):
        return {
            k: "<random>" if k == "op_id" and ":" not in str(v) else scrub(v)
            for k, v in value.items()
            if k not in VOLATILE
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return scrub(json.loads(value))
        except ValueError:
            return value
    return value


def registry_state(client: Any, name: str) -> dict[str, Any]:
    """Aliases, the audit trail, other model tags and every version with its tags, comparable."""
    from driftline.registry.audit import AUDIT_PREFIX

    model = client.get_registered_model(name)
    tags = dict(model.tags or {})
    audit = sorted(
        (scrub(json.loads(v)) for k, v in tags.items() if k.startswith(AUDIT_PREFIX)), key=lambda e: e["seq"]
    )
    versions = sorted(
        (
            {
                "version": int(mv.version),
                "run_id": mv.run_id,
                "status": str(mv.status),
                "tags": scrub(dict(mv.tags or {})),
            }
            for mv in client.search_model_versions(f"name = '{name}'")
        ),
        key=lambda v: v["version"],
    )
    return {
        "aliases": dict(model.aliases or {}),
        "audit": audit,
        "tags": {k: scrub(v) for k, v in tags.items() if not k.startswith(AUDIT_PREFIX)},
        "versions": versions,
    }


def store_state(root: Path) -> dict[str, Any]:
    """Every file under `root`: JSON files scrubbed, other files by sha256."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp")):
        rel = str(path.relative_to(root))
        if path.suffix == ".json":
            out[rel] = scrub(json.loads(path.read_text()))
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return out


def audit_problems(state: dict[str, Any]) -> list[str]:
    """Gaps or duplicates in an audit trail (seq must be 1..n), and a pending change left behind."""
    seqs = [e["seq"] for e in state.get("audit", [])]
    problems = []
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"audit seq {seqs} has gaps or duplicates")
    if "driftline.pending_change" in state.get("tags", {}):
        problems.append("a pending change was left behind")
    return problems


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two states differ (first few paths)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                out.append(f"{path}/{key}: missing")
            elif key not in expected:
                out.append(f"{path}/{key}: unexpected {str(actual[key])[:80]}")
            else:
                out.extend(diff(expected[key], actual[key], f"{path}/{key}"))
        return out
    if expected != actual:
        return [f"{path}: expected {str(expected)[:120]}, got {str(actual)[:120]}"]
    return []


@dataclass
class Cell:
    step: str
    k: int
    mode: str
    fired: bool
    converged: bool
    call: str = ""
    problems: list[str] = field(default_factory=list)


def format_matrix(cells: list[Cell]) -> str:
    """One row per step and mode: a symbol per injection point k (. converged, X not, - no fault fired)."""
    lines = ["fault matrix (k = the failing external call; . converged, X diverged, - never reached)"]
    steps = list(dict.fromkeys(c.step for c in cells))
    for step in steps:
        for mode in MODES:
            row = sorted((c for c in cells if c.step == step and c.mode == mode), key=lambda c: c.k)
            marks = "".join("-" if not c.fired else "." if c.converged else "X" for c in row)
            lines.append(f"  {step:<11} {mode:<6} k=1..{len(row):<3} {marks}")
    fired = [c for c in cells if c.fired]
    bad = [c for c in fired if not c.converged]
    lines.append(f"  {len(fired)} faults injected, {len(fired) - len(bad)} converged, {len(bad)} diverged")
    for c in bad[:20]:
        lines.append(f"  X {c.step} k={c.k} {c.mode} at {c.call}: {'; '.join(c.problems)[:400]}")
    return "\n".join(lines)
