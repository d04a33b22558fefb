"""Where a validation result JSON lives: beside its snapshot, `<name>.validation.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def result_uri(snapshot_uri: str) -> str:
    base = snapshot_uri[: -len(".parquet")] if snapshot_uri.endswith(".parquet") else snapshot_uri
    return base + ".validation.json"


def write_result(snapshot_uri: str, result: dict[str, Any], conn_id: str | None = None) -> str:
    """Write the result JSON next to the snapshot (local path or object-store URI); returns its URI."""
    uri = result_uri(snapshot_uri)
    data = json.dumps(result, indent=2, default=str)
    if "://" in uri and not uri.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(uri, conn_id=conn_id) if conn_id else ObjectStoragePath(uri)
        path.write_text(data)
        return uri
    local = Path(uri.removeprefix("file://"))
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(local.name + ".tmp")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(local)
    return str(local)
