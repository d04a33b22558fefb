"""Run snapshots: deterministic paths, hashes, statuses, quarantine."""

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
    with pytest.raises(SnapshotError, match="has status 'raw'; only 'validated' snapshots may be read here"):
        snapshots.read_snapshot(uri)
    pd.testing.assert_frame_equal(snapshots.read_snapshot(uri, require="raw"), frame)
    validated = snapshots.mark(ref, "validated", validation={"success": True})
    assert validated.facts == {"window_start": "2026-01-01", "validation": {"success": True}}
    pd.testing.assert_frame_equal(snapshots.read_snapshot(uri), frame)


def test_rewrite_is_idempotent(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    first = snapshots.write_snapshot(frame, uri)
    second = snapshots.write_snapshot(frame, uri)
    assert first.sha256 == second.sha256
    assert sorted(p.name for p in (tmp_path / "m" / "r1").iterdir()) == ["w.json", "w.parquet"]


def test_tampered_snapshot_is_refused(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "w")
    snapshots.mark(snapshots.write_snapshot(frame, uri), "validated")
    frame.assign(x=0.0).to_parquet(uri, index=False)
    with pytest.raises(SnapshotError, match="does not match its manifest"):
        snapshots.read_snapshot(uri)


def test_missing_snapshot(tmp_path):
    with pytest.raises(SnapshotError, match=r"snapshot .*/nope.parquet does not exist"):
        snapshots.read_snapshot(str(tmp_path / "nope.parquet"))


def test_quarantine_moves_and_keeps_the_result(tmp_path, frame):
    uri = snapshots.snapshot_uri(str(tmp_path), "m", "r1", "current_window")
    ref = snapshots.write_snapshot(frame, uri)
    moved = snapshots.quarantine(ref, {"success": False, "failures": ["x"]})
    assert moved.status == "quarantined"
    assert moved.uri == f"{tmp_path}/m/quarantine/r1/current_window.parquet"
    assert not (tmp_path / "m" / "r1" / "current_window.parquet").exists()
    assert not (tmp_path / "m" / "r1" / "current_window.json").exists()
    result = json.loads((tmp_path / "m" / "quarantine" / "r1" / "current_window.validation.json").read_text())
    assert result == {"success": False, "failures": ["x"]}
    with pytest.raises(SnapshotError, match="does not exist"):
        snapshots.read_snapshot(uri, require=None)
    with pytest.raises(SnapshotError, match="has status 'quarantined'"):
        snapshots.read_snapshot(moved.uri)
