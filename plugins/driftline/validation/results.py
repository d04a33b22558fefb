"""Where a validation result JSON lives: beside its snapshot, `<name>.validation.json`."""

from __future__ import annotations

import json
from typing import Any


def result_uri(snapshot_uri: str) -> str:
    base = snapshot_uri[: -len(".parquet")] if snapshot_uri.endswith(".parquet") else snapshot_uri
    return base + ".validation.json"


def write_result(snapshot_uri: str, result: dict[str, Any], conn_id: str | None = None) -> str:
    """Write the result JSON next to the snapshot (local path or object-store URI); returns its URI."""
    from driftline.data.snapshots import write_bytes

    uri = result_uri(snapshot_uri)
    write_bytes(uri, json.dumps(result, indent=2, default=str).encode(), conn_id)
    return uri.removeprefix("file://")
