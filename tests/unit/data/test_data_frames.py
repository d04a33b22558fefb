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
