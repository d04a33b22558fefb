from __future__ import annotations

import datetime as dt

import pytest
from driftline.cost.opencost import OpenCostError, allocation_for, prometheus_label

from tests.unit.cost.conftest import RUN, SHARED_RUN, _OpenCost

T0 = dt.datetime(2026, 3, 10, 12, 0, 30, tzinfo=dt.UTC)
COST = {"driftline/model": "churn", "driftline/dag": "driftline__churn"}


def test_allocation_of_the_runs_pods(opencost):
    got = allocation_for(opencost, {**COST, "driftline/run": RUN}, T0, T0 + dt.timedelta(hours=1))
    assert got is not None
    assert (
        got.compute == pytest.approx(0.8)
        and got.gpu == pytest.approx(2.0)
        and got.total == pytest.approx(2.8)
    )
    [query] = _OpenCost.queries
    assert query["aggregate"] == ["label:driftline_model,label:driftline_dag,label:driftline_run"]
    assert query["window"] == ["2026-03-10T12:00:00Z,2026-03-10T13:01:00Z"]
    assert query["accumulate"] == ["true"]


def test_two_models_sharing_a_scheduled_run_id_each_get_only_their_own_pods(opencost):
    churn = allocation_for(opencost, {**COST, "driftline/run": SHARED_RUN}, T0, T0)
    fraud = allocation_for(
        opencost,
        {"driftline/model": "fraud", "driftline/dag": "driftline__fraud", "driftline/run": SHARED_RUN},
        T0,
        T0,
    )
    assert churn is not None and fraud is not None
    assert churn.gpu == pytest.approx(4.0) and churn.compute == pytest.approx(1.55)
    assert fraud.gpu == pytest.approx(40.0) and fraud.compute == pytest.approx(15.05)
    # a pod labelled only with the run (shared by both models) is attributed to neither
    assert allocation_for(opencost, {"driftline/model": "other", "driftline/run": SHARED_RUN}, T0, T0) is None


def test_unknown_run_and_errors(opencost):
    assert allocation_for(opencost, {**COST, "driftline/run": "other-run"}, T0, T0) is None
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for(opencost + "/nope", {"driftline/run": "x"}, T0, T0)
    with pytest.raises(OpenCostError, match="did not answer"):
        allocation_for("http://127.0.0.1:9", {"driftline/run": "x"}, T0, T0, timeout=2)
    with pytest.raises(ValueError, match="at least one label"):
        allocation_for(opencost, {}, T0, T0)


def test_prometheus_label():
    assert prometheus_label("driftline/run") == "driftline_run"
    assert prometheus_label("app.kubernetes.io/name") == "app_kubernetes_io_name"
