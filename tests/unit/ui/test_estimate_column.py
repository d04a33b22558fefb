"""The decisions table shows the label-free estimate, its band and the realised value once labels came."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from driftline.ui import data, render


def run(metrics: dict[str, float], day: int) -> SimpleNamespace:
    when = dt.datetime(2026, 1, day, tzinfo=dt.UTC).isoformat()
    return SimpleNamespace(
        data=SimpleNamespace(
            tags={"driftline.decided_for": when, "driftline.decision": "keep", "airflow.run_id": f"r{day}"},
            metrics=metrics,
        ),
        info=SimpleNamespace(run_id=f"m{day}", experiment_id="1"),
    )


def test_estimate_band_and_realised_are_read_and_shown() -> None:
    reconciled = data.drift_point(
        run(
            {
                "estimated.accuracy": 0.71,
                "estimated_lower": 0.69,
                "estimated_upper": 0.73,
                "realised.accuracy": 0.705,
            },
            11,
        )
    )
    pending = data.drift_point(
        run({"estimated.accuracy": 0.66, "estimated_lower": 0.64, "estimated_upper": 0.68}, 12)
    )
    assert reconciled is not None and pending is not None
    assert reconciled.estimated == {"accuracy": 0.71} and reconciled.estimated_band == (0.69, 0.73)
    assert reconciled.realised == {"accuracy": 0.705} and pending.realised == {}
    page = SimpleNamespace(drift=[reconciled, pending], metric="roc_auc", name="churn")
    html = render._decisions_table(page, SimpleNamespace(name="local", mlflow_ui=None), {})  # type: ignore[arg-type]
    assert "<th>Estimated (band, no labels)</th><th>Realised later</th>" in html
    assert "<td>accuracy 0.7100 [0.6900, 0.7300]</td><td>0.7050</td>" in html
    assert "<td>accuracy 0.6600 [0.6400, 0.6800]</td><td>pending</td>" in html


def test_no_estimate_recorded_no_columns() -> None:
    point = data.drift_point(run({"data_drift_share": 0.1}, 11))
    page = SimpleNamespace(drift=[point], metric="roc_auc", name="churn")
    html = render._decisions_table(page, SimpleNamespace(name="local", mlflow_ui=None), {})  # type: ignore[arg-type]
    assert "Estimated" not in html
