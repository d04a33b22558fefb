"""Turn partition files into one checked DataFrame: read, check columns, filter, coerce types.

Error classes (all derive from DataSourceError, so one `except` catches every load problem):
- NothingArrivedError: the read worked but found no data for the window (yet): missing
  partitions, no matching file, no rows. Only this may be read as "nothing arrived yet";
  any other DataSourceError means the source could not be read;
- CorruptPartitionError: a file cannot be parsed (retryable: a writer may still be at it);
- SourceSchemaError: missing columns, a column whose type cannot be coerced losslessly, or
  rows whose timestamp is missing or unparseable (refused with their count; permanent: a retry
  reads the same data).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.exceptions import DataSourceError, PermanentError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.data.windows import Window


class NothingArrivedError(DataSourceError):
    """The source was read without error but holds no data for the window yet (missing partitions,
    no matching file, no rows): retryable, since data may be late. Distinct from a failure to read."""


class CorruptPartitionError(DataSourceError):
    """A partition file exists but cannot be parsed as the configured format."""


class SourceSchemaError(DataSourceError, PermanentError):
    """The data does not have the columns or types the config describes."""


class SourceConfigError(DataSourceError, PermanentError):
    """The source cannot be used as configured (unknown connection, unsupported hook, bad template)."""


def _source(data: bytes | Path) -> Any:
    return io.BytesIO(data) if isinstance(data, bytes) else data


def available_columns(
    data: bytes | Path, fmt: str, label: str, encoding: str | None = None, field: str = "data.source"
) -> list[str]:
    """The column names of one file, read from its footer (parquet) or header (CSV)."""
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(_source(data)).names)
        return [str(c) for c in pd.read_csv(_source(data), nrows=0, encoding=encoding).columns]
    except UnicodeDecodeError:
        raise _not_text(data, encoding, label, field) from None
    except Exception as exc:  # pyarrow / pandas raise many types for a damaged file
        raise CorruptPartitionError(f"{label}: cannot read as {fmt}: {exc}") from exc


def read_frame(
    data: bytes | Path,
    fmt: str,
    columns: list[str],
    label: str,
    encoding: str | None = None,
    field: str = "data.source",
) -> pd.DataFrame:
    """Read `columns` of one file; names the file and the missing columns when some are absent.

    A CSV file that is not text in its `encoding` (default utf-8) is refused with the line of the
    first bad byte and the config field that declares the encoding (SourceSchemaError: permanent,
    a retry reads the same bytes).
    """
    import pandas as pd

    present = available_columns(data, fmt, label, encoding, field)
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceSchemaError(f"{label}: missing column(s) {missing}; the file has {present}")
    try:
        if fmt == "parquet":
            return pd.read_parquet(_source(data), columns=columns)
        return pd.read_csv(_source(data), usecols=columns, encoding=encoding)[columns]
    except UnicodeDecodeError:
        raise _not_text(data, encoding, label, field) from None
    except Exception as exc:
        raise CorruptPartitionError(f"{label}: cannot read as {fmt}: {exc}") from exc


def _not_text(data: bytes | Path, encoding: str | None, label: str, field: str) -> SourceSchemaError:
    """The error for a file that does not decode: where the first bad byte is, and what to set."""
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    codec = encoding or "utf-8"
    try:
        raw.decode(codec)
        where = "a byte"  # pandas read in chunks and failed where a whole decode does not
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        where = f"byte {raw[exc.start : exc.start + 1].hex()!r} at line {line} (offset {exc.start})"
    return SourceSchemaError(
        f"{label}: not {codec} text: {where} does not decode; declare the file's encoding in "
        f"{field}.encoding (e.g. cp1252 or latin-1 for Western European exports)"
    )


def check_columns(df: pd.DataFrame, columns: list[str], label: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SourceSchemaError(f"{label}: missing column(s) {missing}; found {[str(c) for c in df.columns]}")


def to_utc(values: pd.Series, column: str, label: str) -> pd.Series:
    """A timestamp column as tz-aware UTC; naive values are taken to be UTC.

    Rows whose timestamp is missing or cannot be parsed cannot be placed in any window, so they
    are refused: SourceSchemaError with their count and examples, never a silent drop (a window
    filter would otherwise discard them, and a training split would put them in the training
    part). Numbers are refused too: their unit (seconds? nanoseconds?) would be a guess.
    """
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise SourceSchemaError(
            f"{label}: timestamp column {column!r} holds numbers ({values.dtype}), not timestamps: store ISO 8601 "
            "strings or a datetime type (the unit of an epoch number would be a guess)"
        )
    else:
        # pandas 2.3's ISO8601 parser gives a naive string the offset of the aware string before
        # it ("00:08:51" after "01:07:31+01:00" became 23:08:51 UTC the day before), so a column
        # that mixes both is parsed in two groups: naive as UTC, aware by its own offset.
        aware = values.astype("string").str.strip().str.contains(_OFFSET, regex=True, na=False)
        if aware.any() and not aware[values.notna()].all():
            parsed = pd.concat([_parse_text(values[aware]), _parse_text(values[~aware])]).reindex(
                values.index
            )
        else:
            parsed = _parse_text(values)
    bad = parsed.isna()
    if bad.any():
        unparseable = bad & values.notna() & (values.astype("string").str.strip().fillna("") != "")
        examples = values[unparseable].astype(str).head(3).tolist()
        raise SourceSchemaError(
            f"{label}: {int(bad.sum())} of {len(values)} row(s) have no usable timestamp in column {column!r} "
            f"({int(unparseable.sum())} unparseable, e.g. {examples}; {int(bad.sum() - unparseable.sum())} "
            "missing); they are refused: fix or drop them at the source"
        )
    return parsed


_OFFSET = r"\d[T ]?\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|UTC|[+-]\d{2}(?::?\d{2})?)$"


def _parse_text(values: pd.Series) -> pd.Series:
    """Timestamp strings as UTC (naive ones taken to be UTC); NaT where they do not parse."""
    import pandas as pd

    try:
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(values, utc=True, format="mixed", errors="coerce")


def filter_window(df: pd.DataFrame, timestamp_col: str, window: Window, label: str) -> pd.DataFrame:
    """Keep rows with `start <= timestamp < end`; the timestamp column becomes UTC."""
    import pandas as pd

    ts = to_utc(df[timestamp_col], timestamp_col, label)
    mask = ts < pd.Timestamp(window.end)
    if window.start is not None:
        mask &= ts >= pd.Timestamp(window.start)
    df = df.assign(**{timestamp_col: ts})
    return df.loc[mask.fillna(False).to_numpy()]


def _examples(values: pd.Series, bad: pd.Series) -> list[str]:
    return [str(v) for v in values[bad].astype(str).head(3).tolist()]


def _coerce(values: pd.Series, expected: str) -> tuple[pd.Series | None, str]:
    """(coerced series, "") or (None, why) for one column."""
    import numpy as np
    import pandas as pd

    kind = values.dtype
    api = pd.api.types
    if expected == "float":
        if api.is_float_dtype(kind):
            return values, ""
        if api.is_bool_dtype(kind):
            return None, "bool values are not floats"
        if api.is_numeric_dtype(kind):
            return values.astype("float64"), ""
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            return None, f"non-numeric values {_examples(values, bad)}"
        return numbers.astype("float64"), ""
    if expected == "int":
        if api.is_integer_dtype(kind) and not api.is_bool_dtype(kind):
            return values, ""
        if api.is_bool_dtype(kind):
            return None, "bool values are not integers"
        numbers = values if api.is_numeric_dtype(kind) else pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            return None, f"non-numeric values {_examples(values, bad)}"
        finite = numbers.dropna()
        fractional = ~np.isclose(finite, np.round(finite), rtol=0, atol=0)
        if fractional.any():
            return None, f"fractional values {finite[fractional].astype(str).head(3).tolist()}"
        if numbers.isna().any():
            return numbers.astype("Int64"), ""
        return numbers.astype("int64"), ""
    if expected == "bool":
        if api.is_bool_dtype(kind):
            return values, ""
        lowered = values.astype("string").str.strip().str.lower()
        mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
        mapped = lowered.map(mapping)
        bad = mapped.isna() & values.notna()
        if bad.any():
            return None, f"values that are not booleans {_examples(values, bad)}"
        return (mapped.astype("boolean") if values.isna().any() else mapped.astype(bool)), ""
    if expected == "category":
        return values, ""  # any value set can be a category (codes, labels)
    if expected == "string":
        if api.is_string_dtype(kind) or isinstance(kind, pd.CategoricalDtype) or api.is_object_dtype(kind):
            return values, ""
        if api.is_float_dtype(kind):
            return None, "float values as strings would depend on formatting"
        return values.astype("string").astype(object).where(values.notna(), None), ""
    return None, f"unknown feature type {expected!r}"


def coerce_types(df: pd.DataFrame, types: dict[str, str], label: str) -> pd.DataFrame:
    """Coerce each column to its feature type where that loses nothing; list every column that cannot."""
    problems: list[str] = []
    updates: dict[str, Any] = {}
    for column, expected in types.items():
        if column not in df.columns:
            continue
        coerced, why = _coerce(df[column], expected)
        if coerced is None:
            problems.append(f"column {column!r}: expected {expected}, found {df[column].dtype} ({why})")
        elif coerced is not df[column]:
            updates[column] = coerced
    if problems:
        raise SourceSchemaError(f"{label}: wrong column types:\n  - " + "\n  - ".join(problems))
    return df.assign(**updates) if updates else df
