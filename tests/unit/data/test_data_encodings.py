"""CSV exports that are not UTF-8 (cp1252 / latin-1 from a Windows warehouse): declared, or refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import utc
from driftline.config import load_config
from driftline.config.models import LocalSource, WindowSection
from driftline.data.sources import SourceSchemaError, load_window
from driftline.data.windows import resolve_window
from driftline.exceptions import ConfigError, PermanentError

CSV = (
    "Patient ID,Visit Time,Clinic\n"
    "1,2026-03-01 08:00:00,Zürich\n"
    "2,2026-03-01T10:00:00+01:00,São Paulo\n"
    "3,2026-03-01 12:00:00,Malmö\n"
)


def _load(path: Path, encoding: str | None):
    window = resolve_window(WindowSection(), utc(2026, 3, 1), utc(2026, 3, 2), purpose="current")
    return load_window(
        LocalSource(kind="local", path=str(path), format="csv", encoding=encoding),
        window,
        ["Patient ID", "Visit Time", "Clinic"],
        timestamp_col="Visit Time",
        feature_types={"Patient ID": "int", "Clinic": "category"},
    )


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_declared_encoding_reads_non_ascii_categories(tmp_path: Path, encoding: str):
    path = tmp_path / "visits.csv"
    path.write_bytes(CSV.encode(encoding))
    df = _load(path, encoding).df
    assert df["Clinic"].tolist() == ["Zürich", "São Paulo", "Malmö"]
    assert df["Patient ID"].tolist() == [1, 2, 3]


def test_undeclared_encoding_is_refused_naming_file_line_and_field(tmp_path: Path):
    path = tmp_path / "visits.csv"
    path.write_bytes(CSV.encode("cp1252"))
    with pytest.raises(SourceSchemaError) as info:
        _load(path, None)
    assert isinstance(info.value, PermanentError)  # a retry reads the same bytes
    assert str(info.value) == (
        f"{path}: not utf-8 text: byte 'fc' at line 2 (offset 52) does not decode; declare the file's "
        "encoding in data.source.encoding (e.g. cp1252 or latin-1 for Western European exports)"
    )


def test_utf8_with_bom_needs_no_declaration(tmp_path: Path):
    path = tmp_path / "visits.csv"
    path.write_bytes(CSV.encode("utf-8-sig"))
    assert _load(path, None).df["Clinic"].tolist() == ["Zürich", "São Paulo", "Malmö"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "{kind: local, path: x.csv, format: csv, encoding: windows-1252x}",
            "data.source.encoding: 'windows-1252x' is not a known text encoding",
        ),
        (
            "{kind: s3, uri: 's3://b/k.parquet', encoding: cp1252}",
            "data.source: encoding applies to csv files only (format is 'parquet')",
        ),
    ],
)
def test_config_refuses_unknown_or_misplaced_encoding(
    tmp_path: Path, example_config_path: Path, source: str, problem: str
):
    text = example_config_path.read_text()
    start = text.index("  source:\n")
    end = text.index("  entity_id:")
    bad = tmp_path / "churn.yaml"
    bad.write_text(text[:start] + f"  source: {source}\n" + text[end:])
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert problem in str(info.value)


def test_rows_outside_their_dated_partition_are_logged_not_dropped_quietly(tmp_path: Path, caplog):
    import logging

    (tmp_path / "visits_20260301.csv").write_text(CSV + "4,2026-02-28 23:30:00,Zürich\n", encoding="cp1252")
    with caplog.at_level(logging.WARNING, logger="driftline.data.sources"):
        df = _load(tmp_path / "visits_{ds_nodash}.csv", "cp1252").df
    assert df["Patient ID"].tolist() == [1, 2, 3]
    assert (
        "visits_20260301.csv: 1 of 4 row(s) have a Visit Time outside the window [2026-03-01" in caplog.text
    )
