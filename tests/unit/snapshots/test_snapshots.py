"""Run snapshots: content-addressed write-once paths, hashes checked on read, statuses, quarantine."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from driftline.data import snapshots
from driftline.exceptions import SnapshotError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]})


def test_uri_is_deterministic_and_safe(tmp_path):
    uri = snapshots.snapshot_uri(
        str(tmp_path), "churn", "scheduled__2026-01-02T00:00:00+00:00", "current_window"
    )
    assert uri == f"{tmp_path}/churn/scheduled__2026-01-02T00_00_00_00_00/current_window.parquet"
    assert uri == snapshots.snapshot_uri(
        str(tmp_path) + "/", "churn", "scheduled__2026-01-02T00:00:00+00:00", "current_window"
    )


def test_write_then_read_requires_status(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    ref = snapshots.write_snapshot(frame, uri, facts={"window_start": "2026-01-01"})
    assert ref.rows == 3 and len(ref.sha256) == 64 and ref.status == "raw"
    assert ref.uri == uri.removesuffix(".parquet") + f".{ref.sha256[:16]}.parquet"
    uri = ref.uri
    with pytest.raises(SnapshotError, match="has status 'raw'; only 'validated' snapshots may be read here"):
        snapshots.read_snapshot(uri)
    pd.testing.assert_frame_equal(snapshots.read_snapshot(uri, require="raw"), frame)
    validated = snapshots.mark(ref, "validated", validation={"success": True})
    assert validated.facts == {"window_start": "2026-01-01", "validation": {"success": True}}
    pd.testing.assert_frame_equal(snapshots.read_snapshot(uri), frame)


def test_rewrite_is_idempotent(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    first = snapshots.write_snapshot(frame, uri)
    validated = snapshots.mark(first, "validated", validation={"success": True})
    second = snapshots.write_snapshot(frame, uri)  # a retry of the same load keeps what it finds
    assert second == validated
    tag = first.sha256[:16]
    assert sorted(p.name for p in (tmp_path / "m" / "r1").iterdir()) == [f"w.{tag}.json", f"w.{tag}.parquet"]


def test_a_rerun_never_overwrites_data_a_version_points_at(tmp_path, frame):
    """Clearing a past run loads changed data: it gets a new path; the registered one stays readable."""
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "training_window")
    registered = snapshots.mark(snapshots.write_snapshot(frame, uri), "validated")
    rerun = snapshots.write_snapshot(frame.assign(x=[9.0, 9.0, 9.0]), uri)
    assert rerun.uri != registered.uri and rerun.sha256 != registered.sha256
    pd.testing.assert_frame_equal(snapshots.read_snapshot(registered.uri, sha256=registered.sha256), frame)


def test_read_checks_the_hash_it_was_handed(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    ref = snapshots.mark(snapshots.write_snapshot(frame, uri), "validated")
    with pytest.raises(SnapshotError, match="is not the data this step was handed"):
        snapshots.read_snapshot(ref.uri, sha256="0" * 64)
    # both rewritten together (parquet and manifest) still fail the hash the reader holds
    other = frame.assign(x=0.0)
    other.to_parquet(ref.uri, index=False)
    import hashlib

    forged = snapshots.SnapshotRef(
        ref.uri, 3, hashlib.sha256(open(ref.uri, "rb").read()).hexdigest(), "validated"
    )
    snapshots.write_manifest(forged)
    with pytest.raises(SnapshotError, match="is not the data this step was handed"):
        snapshots.read_snapshot(ref.uri, sha256=ref.sha256)


def test_tampered_snapshot_is_refused(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    uri = snapshots.mark(snapshots.write_snapshot(frame, uri), "validated").uri
    frame.assign(x=0.0).to_parquet(uri, index=False)
    with pytest.raises(SnapshotError, match="does not match its manifest"):
        snapshots.read_snapshot(uri)


def test_missing_snapshot(tmp_path):
    with pytest.raises(SnapshotError, match=r"snapshot .*/nope.parquet does not exist"):
        snapshots.read_snapshot(str(tmp_path / "nope.parquet"))


def test_quarantine_moves_and_keeps_the_result(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "current_window")
    ref = snapshots.write_snapshot(frame, uri)
    uri, name = ref.uri, f"current_window.{ref.sha256[:16]}"
    moved = snapshots.quarantine(ref, {"success": False, "failures": ["x"]})
    assert moved.status == "quarantined"
    assert moved.uri == f"{tmp_path}/m/quarantine/r1/{name}.parquet"
    assert not (tmp_path / "m" / "r1" / f"{name}.parquet").exists()
    assert not (tmp_path / "m" / "r1" / f"{name}.json").exists()
    result = json.loads((tmp_path / "m" / "quarantine" / "r1" / f"{name}.validation.json").read_text())
    assert result == {"success": False, "failures": ["x"]}
    assert snapshots.quarantine(ref, {"success": False, "failures": ["x"]}) == moved  # a retry: same end
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshots.read_snapshot(uri, require=None)
    with pytest.raises(SnapshotError, match="has status 'quarantined'"):
        snapshots.read_snapshot(moved.uri)
