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

        # Airflow builds this path's filesystem from the connection alone (its storage options are not
        # passed on): a bound for S3 through a connection is its extra.config_kwargs, or s3_filesystem.
        return ObjectStoragePath(uri, conn_id=conn_id)
    from upath import UPath

    if uri.startswith(("s3://", "s3a://")):  # s3fs's botocore config: each call bounded (driftline.timeouts)
        from driftline.timeouts import botocore_options

        return UPath(uri, config_kwargs=botocore_options())
    return UPath(uri)


def s3_filesystem(conn_id: str) -> Any:
    """The S3 filesystem (s3fs) of Airflow connection `conn_id`, each call bounded by external_timeout_s.

    The connection's own `extra.config_kwargs` win over the bound (Airflow's amazon provider merges
    ours underneath)."""
    from airflow.providers.amazon.aws.fs.s3 import get_fs
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from driftline.timeouts import botocore_options

    own = S3Hook(aws_conn_id=conn_id).conn_config.extra_config.get("config_kwargs") or {}
    return get_fs(conn_id, storage_options={k: v for k, v in botocore_options().items() if k not in own})
