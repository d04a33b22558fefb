"""latest_row_mask: which row of a repeated entity is scored, and None when ids are unique."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from driftline.inference.scoring import latest_row_mask

T0 = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)


def snapshot(tmp_path, ids, minutes) -> str:
    path = tmp_path / "window.parquet"
    frame = pd.DataFrame({"id": ids, "ts": [T0 + dt.timedelta(minutes=m) for m in minutes]})
    frame.to_parquet(path, row_group_size=2)  # several row groups: ids are read a group at a time
    return str(path)


def test_unique_ids_need_no_mask(tmp_path):
    assert latest_row_mask(snapshot(tmp_path, ["a", "b", "c", "d", "e"], [0, 1, 2, 3, 4]), "id", "ts") is None


def test_the_latest_row_of_each_repeated_entity_is_kept_in_file_order(tmp_path):
    uri = snapshot(tmp_path, ["a", "b", "a", "c", "b", "a"], [5, 1, 9, 0, 1, 2])
    keep = latest_row_mask(uri, "id", "ts")
    assert keep is not None
    # a: minute 9 (row 2); b: a tie at minute 1 keeps the later row (4); c: its only row (3)
    assert keep.tolist() == [False, False, True, True, True, False]


def test_integer_and_string_ids_are_hashed_by_value(tmp_path):
    keep = latest_row_mask(snapshot(tmp_path, [7, 8, 7], [0, 0, 1]), "id", "ts")
    assert keep is not None and keep.tolist() == [False, True, True]
