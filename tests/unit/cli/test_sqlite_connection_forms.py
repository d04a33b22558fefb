"""The SQLite connection forms a user gives `driftline run` (AIRFLOW_CONN_*): each works or fails naming the fix.

`sqlite:////abs/warehouse.db` is how SQLAlchemy and the Airflow docs spell a file; Airflow parses its
path into the connection's *schema* and the SQLite hook then opened `file:` + an empty host and failed
with sqlite3's "invalid uri authority". A relative path depends on the directory the worker runs in.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from driftline.data.frames import SourceConfigError
from driftline.hooks.sources import sql_hook


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table t (a integer)")
        conn.execute("insert into t values (7)")
    return path


@pytest.mark.parametrize(
    "form",
    [
        lambda p: f"sqlite:///{p}",  # sqlite:////abs/path: the SQLAlchemy spelling
        lambda p: json.dumps({"conn_type": "sqlite", "host": str(p)}),  # the JSON form
    ],
    ids=["uri", "json"],
)
def test_an_absolute_sqlite_file_works_in_both_forms(warehouse, monkeypatch, form) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_FORMS", form(warehouse))
    assert sql_hook("wh_forms").get_records("select a from t") == [(7,)]


@pytest.mark.parametrize("uri", ["sqlite:///warehouse.db", "sqlite://"])
def test_a_relative_or_missing_sqlite_path_fails_naming_the_field_and_the_fix(monkeypatch, uri) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WH_FORMS", uri)
    with pytest.raises(SourceConfigError) as info:
        sql_hook("wh_forms", "data.source.conn_id")
    message = str(info.value)
    assert message.startswith("data.source.conn_id: SQLite connection 'wh_forms' ")
    assert "sqlite:////absolute/path/warehouse.db" in message
    assert '{"conn_type": "sqlite", "host": "/absolute/path/warehouse.db"}' in message
