from __future__ import annotations

import datetime as dt

import pytest
from driftline.cost.opencost import OpenCostError, allocation_for, prometheus_label

from tests.unit.cost.conftest import _OpenCost

T0 = dt.datetime(2026, 3, 10, 12, 0, 30, tzinfo=dt.UTC)


def test_allocation_of_the_runs_pods(opencost):
    got = allocation_for(opencost, "manual__2026-03-10T12_00_00-00_00-abc", T0, T0 + dt.timedelta(hours=1))
    assert got is not None
    assert (
        got.compute == pytest.approx(0.8)
        and got.gpu == pytest.approx(2.0)
        and got.total == pytest.approx(2.8)
    )
    [query] = _OpenCost.queries
    assert query["aggregate"] == ["label:driftline_run"]
    assert query["window"] == ["2026-03-10T12:00:00Z,2026-03-10T13:01:00Z"]
    assert query["accumulate"] == ["true"]


def test_unknown_run_and_errors(opencost):
    assert allocation_for(opencost, "other-run", T0, T0) is None
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for(opencost + "/nope", "x", T0, T0)
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for("http://127.0.0.1:9", "x", T0, T0, timeout=2)


def test_prometheus_label():
    assert prometheus_label("driftline/run") == "driftline_run"
    assert prometheus_label("app.kubernetes.io/name") == "app_kubernetes_io_name"
