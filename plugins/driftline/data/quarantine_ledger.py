"""The quarantine ledger: time ranges whose batch failed validation, kept out of training.

When a scoring (current) window fails its gate, its [start, end) range is recorded as one file per
range, `<snapshot_root>/<model>/quarantine/ranges/<hash of the range>.json`. Training windows drop
the rows of every recorded range, so a rejected batch is never trained on, whatever the source
(files, S3, SQL). A later run that validates the same range successfully (the data was fixed
upstream and the run cleared) releases it (deletes its file).

Runs of one model overlap (`schedule.max_active_runs`, 4 by default; a backfill runs that many
days at once), so no writer reads, changes and rewrites a shared file: recording or releasing one
range touches only that range's file, and two corrupt days rejected at the same moment are both
kept. (Earlier versions kept the ranges in one `ledger.json`, rewritten on every change: two concurrent
rejections kept one. That file is still read, and a release rewrites it without the range.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from driftline.data import snapshots
from driftline.data.snapshots import default_root, safe_segment

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class QuarantinedRange:
    """One rejected batch: its time range, the run that rejected it, and why."""

    start: str
    end: str
    run_id: str
    quarantined_at: str
    snapshot: str
    reason: str


def ledger_uri(root: str | None, model: str) -> str:
    """The single-file ledger of earlier versions (read, and rewritten only to release a range)."""
    return f"{(root or default_root()).rstrip('/')}/{safe_segment(model)}/quarantine/ledger.json"


def ranges_uri(root: str | None, model: str) -> str:
    return f"{(root or default_root()).rstrip('/')}/{safe_segment(model)}/quarantine/ranges"


def range_uri(root: str | None, model: str, start: str, end: str) -> str:
    digest = hashlib.sha256(f"{start}\n{end}".encode()).hexdigest()[:24]
    return f"{ranges_uri(root, model)}/{digest}.json"


def _legacy(root: str | None, model: str, conn_id: str | None) -> list[QuarantinedRange]:
    uri = ledger_uri(root, model)
    if not snapshots.exists(uri, conn_id):
        return []
    return [QuarantinedRange(**entry) for entry in json.loads(snapshots.read_bytes(uri, conn_id))]


def quarantined_ranges(root: str | None, model: str, conn_id: str | None = None) -> list[QuarantinedRange]:
    """Every recorded range, oldest first (one per [start, end))."""
    found = {(r.start, r.end): r for r in _legacy(root, model, conn_id)}
    folder = snapshots.storage_path(ranges_uri(root, model), conn_id)
    for path in sorted(folder.glob("*.json"), key=str) if folder.exists() else []:
        entry = QuarantinedRange(**json.loads(path.read_bytes()))
        found[(entry.start, entry.end)] = entry
    return sorted(found.values(), key=lambda r: r.quarantined_at)


def record(
    root: str | None,
    model: str,
    start: str,
    end: str,
    *,
    run_id: str,
    snapshot: str,
    reason: str,
    conn_id: str | None = None,
) -> QuarantinedRange:
    """Add the range of a rejected batch. Idempotent: an entry of the same range and run is kept as it is."""
    uri = range_uri(root, model, start, end)
    if snapshots.exists(uri, conn_id):
        seen = QuarantinedRange(**json.loads(snapshots.read_bytes(uri, conn_id)))
        if (seen.run_id, seen.snapshot) == (run_id, snapshot):
            return seen
    entry = QuarantinedRange(start, end, run_id, dt.datetime.now(dt.UTC).isoformat(), snapshot, reason[:2000])
    snapshots.write_bytes(uri, json.dumps(asdict(entry), indent=2).encode(), conn_id)
    return entry


def release(root: str | None, model: str, start: str, end: str, conn_id: str | None = None) -> bool:
    """Forget a range that has since validated; True when one was released."""
    uri = range_uri(root, model, start, end)
    released = snapshots.exists(uri, conn_id)
    if released:
        snapshots.remove(uri, conn_id)
    legacy = _legacy(root, model, conn_id)
    kept = [r for r in legacy if (r.start, r.end) != (start, end)]
    if len(kept) != len(legacy):
        data = json.dumps([asdict(r) for r in kept], indent=2).encode()
        snapshots.write_bytes(ledger_uri(root, model), data, conn_id)
        released = True
    return released


def drop_quarantined(
    df: pd.DataFrame, timestamp_col: str, ranges: list[QuarantinedRange]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows of `df` outside every quarantined range, and which ranges removed how many rows."""
    import pandas as pd

    if not ranges or df.empty:
        return df, []
    ts = pd.to_datetime(df[timestamp_col], utc=True)
    keep = pd.Series(True, index=df.index)
    dropped = []
    for r in ranges:
        inside = (ts >= pd.Timestamp(r.start)) & (ts < pd.Timestamp(r.end))
        count = int((inside & keep).sum())
        if count:
            dropped.append({"start": r.start, "end": r.end, "rows": count, "run_id": r.run_id})
        keep &= ~inside
    return df.loc[keep.to_numpy()].reset_index(drop=True), dropped
