"""The one object-store layer: fsspec paths (universal_pathlib), for snapshots and S3 sources alike.

`object_path(uri, conn_id)` is a path object (`read_bytes`, `write_bytes`, `exists`, `unlink`,
`glob`, `fs`) for an `s3://`, `gs://`, ... URI:

- with an Airflow connection id: Airflow's `ObjectStoragePath`, a `UPath` whose filesystem carries
  that connection's credentials and endpoint (the worker's case; Airflow is imported only here);
- without one: a plain `upath.UPath` on the environment's credentials, which is what the training
  pod has (IRSA / workload identity / env vars) and needs no Airflow.

Why ObjectStoragePath rather than S3Hook: it is the same fsspec layer with or without Airflow (the
training image reads snapshots without Airflow installed), it covers every fsspec scheme rather than
S3 only, and the snapshot store already used it. S3Hook is no longer used by Driftline.
"""

from __future__ import annotations

from typing import Any


def is_object_store_uri(uri: str) -> bool:
    """True for `s3://`, `gs://`, ... URIs (readable from a pod); False for local paths and file:// URIs."""
    return "://" in uri and not uri.startswith("file://")


def object_path(uri: str, conn_id: str | None = None) -> Any:
    """A UPath for `uri`: through the Airflow connection `conn_id` when given, else environment credentials."""
    if conn_id:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(uri, conn_id=conn_id)
    from upath import UPath

    return UPath(uri)
