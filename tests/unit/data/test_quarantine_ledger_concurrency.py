"""The quarantine ledger under overlapping runs (max_active_runs 4: a backfill validates days at once).

Found under the real scheduler: the ledger was one JSON file that each rejection read, changed and
rewrote, so two corrupt days rejected at the same moment kept one range, and the other day was
later trained on.
"""

from __future__ import annotations

import json
import threading

from driftline.data import quarantine_ledger as ql


def _days(n: int) -> list[tuple[str, str]]:
    return [
        (f"2026-01-{d:02d}T00:00:00+00:00", f"2026-01-{d + 1:02d}T00:00:00+00:00") for d in range(1, n + 1)
    ]


def test_rejections_at_the_same_moment_are_all_kept(tmp_path) -> None:
    root = str(tmp_path / "snapshots")
    days = _days(8)
    barrier = threading.Barrier(len(days))
    errors: list[BaseException] = []

    def reject(start: str, end: str) -> None:
        barrier.wait()
        try:
            ql.record(root, "churn", start, end, run_id=f"backfill {start}", snapshot="s", reason="corrupt")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reject, args=day) for day in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.start, r.end) for r in ql.quarantined_ranges(root, "churn")) == days


def test_release_forgets_one_range_and_the_old_single_file_is_still_read(tmp_path) -> None:
    root = str(tmp_path / "snapshots")
    (a, b, c) = _days(3)
    legacy = tmp_path / "snapshots" / "churn" / "quarantine" / "ledger.json"
    legacy.parent.mkdir(parents=True)
    entry = {
        "start": a[0],
        "end": a[1],
        "run_id": "old",
        "quarantined_at": "2026-01-02",
        "snapshot": "s",
        "reason": "r",
    }
    legacy.write_text(json.dumps([entry]))
    ql.record(root, "churn", *b, run_id="r1", snapshot="s", reason="corrupt")
    again = ql.record(root, "churn", *b, run_id="r1", snapshot="s", reason="corrupt")  # a retry
    ql.record(root, "churn", *c, run_id="r2", snapshot="s", reason="corrupt")
    assert [r.start for r in ql.quarantined_ranges(root, "churn")] == [a[0], b[0], c[0]]
    assert again.run_id == "r1"
    assert ql.release(root, "churn", *b) and not ql.release(root, "churn", *b)
    assert ql.release(root, "churn", *a)  # a range of the old file
    assert [r.start for r in ql.quarantined_ranges(root, "churn")] == [c[0]]
