from __future__ import annotations

import pandas as pd
import pytest
from driftline.data.frames import SourceSchemaError, coerce_types


def test_lossless_coercions():
    df = pd.DataFrame(
        {
            "i": [1.0, None, 3.0],
            "b": ["true", "False", "1"],
            "s": [1, 2, 3],
            "c": [1, 2, 2],
            "f": [1, 2, 3],
        }
    )
    out = coerce_types(df, {"i": "int", "b": "bool", "s": "string", "c": "category", "f": "float"}, "t")
    assert str(out["i"].dtype) == "Int64" and out["i"].isna().sum() == 1
    assert out["b"].tolist() == [True, False, True]
    assert out["s"].tolist() == ["1", "2", "3"]
    assert out["f"].dtype == "float64" and out["c"].dtype == "int64"


def test_every_bad_column_is_listed():
    df = pd.DataFrame({"a": [True, False], "b": ["yes", "no"], "c": [1.5, 2.0]})
    with pytest.raises(SourceSchemaError) as info:
        coerce_types(df, {"a": "int", "b": "bool", "c": "string"}, "file.parquet")
    text = str(info.value)
    assert text.startswith("file.parquet: wrong column types")
    assert "column 'a': expected int, found bool" in text
    assert "column 'b': expected bool, found object (values that are not booleans ['yes', 'no'])" in text
    assert "column 'c': expected string, found float64" in text


def test_naive_and_offset_timestamps_in_one_column_each_keep_their_meaning():
    """pandas 2.3's ISO8601 parser gives a naive string the offset of the aware one before it: a CSV
    mixing both lost every naive row after 00:00 local to the previous day (9 of 300 in a day)."""
    from driftline.data.frames import to_utc

    values = pd.Series(
        ["2026-03-05 00:03:22", "2026-03-05T01:07:31+01:00", "2026-03-05 00:08:51", "2026-03-05T00:10:00Z"]
    )
    assert [t.isoformat() for t in to_utc(values, "Visit Time", "visits.csv")] == [
        "2026-03-05T00:03:22+00:00",
        "2026-03-05T00:07:31+00:00",
        "2026-03-05T00:08:51+00:00",  # naive is UTC, not +01:00 (was 2026-03-04T23:08:51)
        "2026-03-05T00:10:00+00:00",
    ]
