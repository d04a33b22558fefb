"""Run-scoped, content-addressed parquet snapshots: the only way a DataFrame travels between tasks.

A snapshot is `<root>/<model>/<run>/<name>.<sha256[:16]>.parquet` with a JSON manifest beside it
(`<name>.<sha256[:16]>.json`: rows, sha256 of the parquet bytes, status, window, extra facts).
Write-once: the path names the bytes, so a retry that loads the same data finds its snapshot (and
keeps its manifest), and a rerun that loads different data writes a new path: data a registered
version points at (its `driftline.snapshot_uri` / `driftline.snapshot_sha256` tags) is never
overwritten. Every read checks the hash it was handed (`read_snapshot(..., sha256=...)`: the XCom
SnapshotRef, a version's tag) against the manifest and the bytes. Status is
`raw` when loaded, `validated` once the gate passed; a failed batch is moved under
`<root>/<model>/quarantine/<run>/` with status `quarantined`. Downstream readers ask for
`validated` and cannot read anything else. Writes go to a temporary name first and are
renamed into place, so a crash never leaves a half-written snapshot that looks valid.
Roots may be local folders or object-store URIs (`s3://bucket/prefix`, read through
`driftline.objectstore`: Airflow's ObjectStoragePath with a connection id, else plain fsspec).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from driftline.exceptions import SnapshotError
from driftline.objectstore import is_object_store_uri, object_path
from driftline.payloads import SnapshotPayload
from driftline.settings import driftline_home, snapshot_conn_id

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["raw", "validated", "quarantined"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
SNAPSHOT_ROW_GROUP_ROWS = 65_536


@dataclass
class SnapshotRef:
    """What XCom carries instead of a DataFrame."""

    uri: str
    rows: int
    sha256: str
    status: Status = "raw"
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> SnapshotPayload:
        return SnapshotPayload(
            uri=self.uri,
            rows=self.rows,
            sha256=self.sha256,
            status=self.status,
            facts=copy.deepcopy(self.facts),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SnapshotRef:
        return cls(**{k: data[k] for k in ("uri", "rows", "sha256", "status", "facts") if k in data})


def safe_segment(value: str) -> str:
    """A path segment from a run id such as `scheduled__2026-01-02T00:00:00+00:00`."""
    return _UNSAFE.sub("_", value).strip("_") or "run"


def default_root() -> str:
    return str(driftline_home() / "snapshots")


def storage_path(uri: str, conn_id: str | None = None) -> Any:
    """A local Path, or an object-store path (driftline.objectstore, the one object-store layer).

    The object store's Airflow connection is `conn_id`, else `DRIFTLINE_SNAPSHOT_CONN_ID` (the
    snapshot store is a platform setting, shared by every model); with neither (the training pod),
    the environment's credentials.
    """
    if is_object_store_uri(uri):
        return object_path(uri, conn_id or snapshot_conn_id())
    return Path(uri.removeprefix("file://"))


def snapshot_uri(root: str | None, model: str, run_id: str, name: str) -> str:
    """The base URI of a run's snapshot; `write_snapshot` adds the content hash to it."""
    base = (root or default_root()).rstrip("/")
    return f"{base}/{safe_segment(model)}/{safe_segment(run_id)}/{safe_segment(name)}.parquet"


def content_uri(uri: str, sha256: str) -> str:
    """`.../<name>.parquet` -> `.../<name>.<sha256[:16]>.parquet` (unchanged when it already ends so)."""
    stem = uri[: -len(".parquet")] if uri.endswith(".parquet") else uri
    tag = sha256[:16]
    if stem.endswith("." + tag):
        return f"{stem}.parquet"
    return f"{stem}.{tag}.parquet"


def manifest_uri(uri: str) -> str:
    return uri[: -len(".parquet")] + ".json" if uri.endswith(".parquet") else uri + ".json"


class SnapshotStoreError(SnapshotError):
    """The snapshot store cannot be used as configured (e.g. its bucket does not exist)."""


def _bucket_of(uri: str) -> str:
    return uri.split("://", 1)[1].split("/", 1)[0]


def write_bytes(uri: str, data: bytes, conn_id: str | None = None) -> None:
    """Write a whole file or object; a local file is replaced atomically.

    An object store's bucket is never created (object stores have no folders to make, and
    `mkdir` on a bucket path would create a mistyped bucket): writing into a missing bucket is
    SnapshotStoreError naming the bucket.
    """
    path = storage_path(uri, conn_id)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # a name of this writer's own: two writers of one file must not share (and steal) a temp file
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return
    try:  # object stores write whole objects atomically
        path.write_bytes(data)
    except FileNotFoundError as exc:
        bucket = _bucket_of(uri)
        raise SnapshotStoreError(
            f"cannot write {uri}: the bucket {bucket!r} does not exist (or the connection "
            f"{conn_id or snapshot_conn_id() or 'default'!r} cannot see it); Driftline "
            "never creates buckets: create it, or fix data.snapshot_root / DRIFTLINE_SNAPSHOT_CONN_ID"
        ) from exc


def read_bytes(uri: str, conn_id: str | None = None) -> bytes:
    path = storage_path(uri, conn_id)
    try:
        data: bytes = path.read_bytes()
        return data
    except FileNotFoundError as exc:
        raise SnapshotError(f"snapshot {uri} does not exist") from exc


def exists(uri: str, conn_id: str | None = None) -> bool:
    """True when the file or object exists."""
    return bool(storage_path(uri, conn_id).exists())


def remove(uri: str, conn_id: str | None = None) -> None:
    """Delete a file or object; a missing one is fine (idempotent)."""
    path = storage_path(uri, conn_id)
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def write_snapshot(
    df: pd.DataFrame,
    uri: str,
    facts: dict[str, Any] | None = None,
    conn_id: str | None = None,
) -> SnapshotRef:
    """Write `df` as parquet plus its manifest (status `raw`) at its content address; return the reference.

    Write-once: when these bytes are already stored under `uri` with a manifest, the stored
    reference is returned as it is (a retry of the same load; its status is kept).
    """
    buffer = io.BytesIO()
    # Row groups of 64k rows: chunked readers (scoring) hold one row group at a time, so their
    # memory stays flat whatever the window size (pyarrow's default is ~1M rows per group).
    df.to_parquet(buffer, index=False, row_group_size=SNAPSHOT_ROW_GROUP_ROWS)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    uri = content_uri(uri, digest)
    try:
        stored = read_manifest(uri, conn_id)
    except SnapshotError:
        stored = None
    if stored is not None and stored.sha256 == digest and exists(uri, conn_id):
        return stored
    ref = SnapshotRef(uri=uri, rows=len(df), sha256=digest, facts=dict(facts or {}))
    # The manifest goes last: a parquet file without a manifest is never readable.
    write_bytes(uri, data, conn_id)
    write_manifest(ref, conn_id)
    return ref


def write_snapshot_file(
    path: str | os.PathLike[str],
    uri: str,
    rows: int,
    facts: dict[str, Any] | None = None,
    conn_id: str | None = None,
) -> SnapshotRef:
    """`write_snapshot` for a parquet file an engine already wrote (e.g. DuckDB's COPY): hashed and
    copied to its content address a block at a time, never read whole into memory. The local file
    is moved when the root is a local folder, else uploaded and removed."""
    import shutil

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    sha = digest.hexdigest()
    uri = content_uri(uri, sha)
    try:
        stored = read_manifest(uri, conn_id)
    except SnapshotError:
        stored = None
    if stored is not None and stored.sha256 == sha and exists(uri, conn_id):
        Path(path).unlink(missing_ok=True)
        return stored
    ref = SnapshotRef(uri=uri, rows=rows, sha256=sha, facts=dict(facts or {}))
    if is_object_store_uri(uri):
        target = storage_path(uri, conn_id)
        with open(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 8 * 1024 * 1024)
        Path(path).unlink(missing_ok=True)
    else:
        local = Path(storage_path(uri))
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f"{local.name}.{uuid.uuid4().hex}.tmp")
        shutil.move(os.fspath(path), tmp)
        os.replace(tmp, local)
    write_manifest(ref, conn_id)
    return ref


def verify_snapshot_file(
    uri: str, require: Status | None = "validated", sha256: str | None = None
) -> SnapshotRef:
    """`read_snapshot`'s checks (status, the handed hash, the bytes' hash) without loading the
    data: hashed a block at a time. Returns the manifest; the caller reads the file itself."""
    ref = read_manifest(uri)
    if require is not None and ref.status != require:
        raise SnapshotError(
            f"snapshot {uri} has status {ref.status!r}; only {require!r} snapshots may be read here"
        )
    if sha256 is not None and ref.sha256 != sha256:
        raise SnapshotError(
            f"snapshot {uri} is not the data this step was handed: its manifest says sha256 "
            f"{ref.sha256[:12]}, the reference says {sha256[:12]} (was it rewritten?)"
        )
    digest = hashlib.sha256()
    with storage_path(uri).open("rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    if digest.hexdigest() != ref.sha256:
        raise SnapshotError(
            f"snapshot {uri} does not match its manifest (sha256 {digest.hexdigest()[:12]} != {ref.sha256[:12]})"
        )
    return ref


def write_manifest(ref: SnapshotRef, conn_id: str | None = None) -> None:
    write_bytes(manifest_uri(ref.uri), json.dumps(ref.to_dict(), indent=2, default=str).encode(), conn_id)


def read_manifest(uri: str, conn_id: str | None = None) -> SnapshotRef:
    try:
        raw = read_bytes(manifest_uri(uri), conn_id)
    except SnapshotError:
        raise SnapshotError(f"snapshot {uri} does not exist (no manifest at {manifest_uri(uri)})") from None
    try:
        return SnapshotRef.from_dict(json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"snapshot manifest {manifest_uri(uri)} is corrupt: {exc}") from exc


def read_snapshot(
    uri: str,
    require: Status | None = "validated",
    conn_id: str | None = None,
    *,
    sha256: str | None = None,
) -> pd.DataFrame:
    """Read a snapshot, refusing it unless its manifest has status `require` and its bytes hash to
    the manifest's sha256 and, when given, to `sha256`: the hash the reader was handed (lineage)."""
    import pandas as pd

    ref = read_manifest(uri, conn_id)
    if require is not None and ref.status != require:
        raise SnapshotError(
            f"snapshot {uri} has status {ref.status!r}; only {require!r} snapshots may be read here"
        )
    if sha256 is not None and ref.sha256 != sha256:
        raise SnapshotError(
            f"snapshot {uri} is not the data this step was handed: its manifest says sha256 "
            f"{ref.sha256[:12]}, the reference says {sha256[:12]} (was it rewritten?)"
        )
    data = read_bytes(uri, conn_id)
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref.sha256:
        raise SnapshotError(
            f"snapshot {uri} does not match its manifest (sha256 {digest[:12]} != {ref.sha256[:12]})"
        )
    return pd.read_parquet(io.BytesIO(data))


def mark(ref: SnapshotRef, status: Status, conn_id: str | None = None, **facts: Any) -> SnapshotRef:
    """Record a new status (and facts) in the snapshot's manifest."""
    ref = SnapshotRef(ref.uri, ref.rows, ref.sha256, status, {**ref.facts, **facts})
    write_manifest(ref, conn_id)
    return ref


def quarantine_uri(ref: SnapshotRef) -> str:
    """Where a failed snapshot goes: `<root>/<model>/quarantine/<run>/<name>`."""
    run_dir, name = ref.uri.rsplit("/", 1)
    model_dir, run = run_dir.rsplit("/", 1)
    return f"{model_dir}/quarantine/{run}/{name}"


def quarantine(ref: SnapshotRef, result: dict[str, Any], conn_id: str | None = None) -> SnapshotRef:
    """Move a failed snapshot under `quarantine/` with the validation result beside it.

    Copy first (bytes, result, manifest), delete the original last; every step is idempotent, so
    a retry after a crash at any point finishes the move (the copy's bytes are checked against the
    hash). The original location keeps no readable snapshot afterwards.
    """
    target_uri = ref.uri if ref.status == "quarantined" else quarantine_uri(ref)
    origin = str(ref.facts.get("quarantined_from") or ref.uri)
    moved = SnapshotRef(
        target_uri, ref.rows, ref.sha256, "quarantined", {**ref.facts, "quarantined_from": origin}
    )
    if (
        not exists(target_uri, conn_id)
        or hashlib.sha256(read_bytes(target_uri, conn_id)).hexdigest() != ref.sha256
    ):
        data = read_bytes(origin, conn_id)
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise SnapshotError(f"snapshot {origin} does not match its reference (sha256 {ref.sha256[:12]})")
        write_bytes(target_uri, data, conn_id)
    result_uri = target_uri[: -len(".parquet")] + ".validation.json"
    write_bytes(result_uri, json.dumps(result, indent=2, default=str).encode(), conn_id)
    write_manifest(moved, conn_id)
    remove(manifest_uri(origin), conn_id)  # the manifest first: without it the parquet is unreadable
    remove(origin, conn_id)
    return moved
