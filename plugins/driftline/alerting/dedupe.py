"""One notification per (model, Airflow run, rule): a claim file created exclusively before sending.

Claims live under `DRIFTLINE_HOME/alerts/sent/<model>/<run>/<rule>`; a failed send releases its
claim so a later try sends again (at-least-once). Across machines the dedupe holds when
DRIFTLINE_HOME is shared storage (as the alert record is).
"""

from __future__ import annotations

import re
from pathlib import Path

from driftline.settings import driftline_home

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def claim_path(model: str, run_id: str, rule: str) -> Path:
    safe = [_UNSAFE.sub("_", part) or "_" for part in (model, run_id or "no-run", rule)]
    return driftline_home().joinpath("alerts", "sent", *safe)


def claim(model: str, run_id: str, rule: str) -> Path | None:
    """The claim for this notification, or None when it was already sent (or is being sent)."""
    path = claim_path(model, run_id, rule)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write("claimed\n")
    except FileExistsError:
        return None
    return path


def release(path: Path) -> None:
    """Give a claim back (the send failed), so a retry may send."""
    path.unlink(missing_ok=True)
