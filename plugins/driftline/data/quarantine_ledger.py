"""The quarantine ledger: time ranges whose batch failed validation, kept out of training.

When a scoring (current) window fails its gate, its [start, end) range is recorded in
`<snapshot_root>/<model>/quarantine/ledger.json`. Training windows drop the rows of every
recorded range, so a rejected batch is never trained on, whatever the source (files, S3, SQL).
A later run that validates the same range successfully (the data was fixed upstream and the
run cleared) releases it. Runs of one model never overlap (max_active_runs=1), so the
read-modify-write below has a single writer; the file is replaced atomically.
"""

from __future__ import annotations

import datetime as dt
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
    return f"{(root or default_root()).rstrip('/')}/{safe_segment(model)}/quarantine/ledger.json"


def quarantined_ranges(root: str | None, model: str, conn_id: str | None = None) -> list[QuarantinedRange]:
    uri = ledger_uri(root, model)
    if not snapshots.exists(uri, conn_id):
        return []
    return [QuarantinedRange(**entry) for entry in json.loads(snapshots.read_bytes(uri, conn_id))]


def _save(root: str | None, model: str, ranges: list[QuarantinedRange], conn_id: str | None) -> None:
    data = json.dumps([asdict(r) for r in ranges], indent=2).encode()
    snapshots.write_bytes(ledger_uri(root, model), data, conn_id)


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
    ranges = quarantined_ranges(root, model, conn_id)
    for r in ranges:
        if (r.start, r.end, r.run_id, r.snapshot) == (start, end, run_id, snapshot):
            return r
    entry = QuarantinedRange(start, end, run_id, dt.datetime.now(dt.UTC).isoformat(), snapshot, reason[:2000])
    kept = [r for r in ranges if (r.start, r.end) != (start, end)]
    _save(root, model, [*kept, entry], conn_id)
    return entry


def release(root: str | None, model: str, start: str, end: str, conn_id: str | None = None) -> bool:
    """Forget a range that has since validated; True when one was released."""
    ranges = quarantined_ranges(root, model, conn_id)
    kept = [r for r in ranges if (r.start, r.end) != (start, end)]
    if len(kept) != len(ranges):
        _save(root, model, kept, conn_id)
        return True
    return False


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
