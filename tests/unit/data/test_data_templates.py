from __future__ import annotations

import datetime as dt

import pytest
from driftline.data import templates
from driftline.exceptions import ConfigError

DAY = dt.date(2026, 1, 7)


def test_render_day_placeholders():
    assert templates.render_day("a/dt={ds}/x", DAY) == "a/dt=2026-01-07/x"
    assert templates.render_day("a/{date:%Y/%m/%d}/x_{ds_nodash}.csv", DAY) == "a/2026/01/07/x_20260107.csv"


def test_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("DRIFTLINE_DATA", str(tmp_path))
    assert templates.render_roots("{data_root}/c/{ds}") == f"{tmp_path}/c/{{ds}}"


def test_unknown_placeholder_names_the_field():
    with pytest.raises(ConfigError, match=r"(?s)data.source.path.*unknown placeholder \{dat\}"):
        templates.check_template("x/{dat}/y", "data.source.path")


def test_discovery_parses_dates_back():
    tpl = "/d/churn/dt={ds}/*.parquet"
    assert templates.to_glob(tpl) == "/d/churn/dt=*-*-*/*.parquet"
    parse = templates.date_parser(tpl)
    assert parse("/d/churn/dt=2026-01-07/part-1.parquet") == DAY
    assert parse("/d/churn/dt=latest/part.parquet") is None
    parse2 = templates.date_parser("csv/{date:%Y/%m/%d}/data.csv")
    assert parse2("csv/2026/01/07/data.csv") == DAY
    assert templates.literal_prefix("csv/{date:%Y/%m/%d}/data.csv") == "csv/"
    assert templates.literal_prefix("csv/2026/*/x") == "csv/2026/"
