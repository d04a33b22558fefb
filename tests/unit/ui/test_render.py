"""HTML of the models page and a model's page, from a real recorded history."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from driftline.ui import data, render
from driftline.ui.sources import demo_source
from driftline.ui.svg import line_chart, sparkline


@pytest.fixture(scope="module")
def rendered(ui_history: tuple[Path, dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    from driftline.config import load_config

    home, facts = ui_history
    source = demo_source(home)
    assert source is not None
    config = load_config(Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml")
    page = data.model_page(source, config)
    reports = {facts["monitoring_runs"][2]: "drift/report.html"}
    return (
        render.models_page([page], source, [source], {}),
        render.model_detail(page, source, [source], reports),
        facts,
    )


def test_models_page_lists_the_model_with_its_versions_run_and_trends(rendered) -> None:
    overview, _, facts = rendered
    assert 'href="models/churn?source=demo"' in overview
    assert "v1 " in overview and "v2 " in overview  # champion and challenger
    assert f"#/runs/{facts['train_runs'][1]}" in overview  # champion's training run in MLflow
    assert 'href="/dags/driftline__churn/runs/scheduled__2026-01-20T00%3A00%3A00%2B00%3A00"' in overview
    assert '<span class="state failed">failed</span>' in overview
    assert overview.count('<svg class="spark"') == 2  # drift share and live metric trends
    assert "drift share: 0 -&gt; 0.5" in overview
    assert '<span class="alert">2</span>' in overview


def test_model_page_plots_drift_per_column_metric_and_links_runs_and_report(rendered) -> None:
    _, detail, facts = rendered
    charts = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]+)"', detail)
    assert charts == [
        "Drift score per column",
        "Share of columns drifted",
        "Live roc_auc of the champion",
        "Cost per day (USD)",
        "Rows per run",
        "Validation pass rate",
    ]
    assert "usage_minutes" in detail and "plan" in detail
    assert "v1 at registration" in detail  # the champion's registered metric as the reference line
    run = facts["monitoring_runs"][2]
    assert f"#/experiments/{facts['monitoring_experiment']}/runs/{run}" in detail
    assert f'href="../models/churn/drift-report/{run}?source=demo"' in detail
    assert detail.count(">report</a>") == 1 and detail.count('<span class="note">not built</span>') == 3


def test_alert_text_is_escaped(rendered) -> None:
    _, detail, _ = rendered
    assert "the &lt;b&gt;current&lt;/b&gt; window" in detail and "<b>current</b>" not in detail


def test_missing_sections_are_sentences_not_numbers() -> None:
    cell = render._cost_cell(data.Missing("no cost recorded yet"))
    assert cell == '<span class="missing">no cost recorded yet</span>'


def test_charts_scale_points_into_the_frame() -> None:
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    svg = line_chart({"a": [(t, 0.0), (t + dt.timedelta(days=1), 1.0)]}, title="T", width=300, height=100)
    assert '<polyline points="60.0,72.0 150.0,24.0"' in svg
    assert line_chart({"a": []}, title="T") == '<p class="empty">T: no points recorded yet</p>'
    assert sparkline([]) == "&ndash;"


def test_roi_over_a_near_zero_cost_is_shown_as_the_cost_report_shows_it() -> None:
    # make demo's ROI (seconds of local tasks) was drawn as "+1117935303% [+735594301%, ...]"
    roi = {
        "measurable": True,
        "roi": 11179353.03,
        "roi_low": 7355943.01,
        "roi_high": 15002763.06,
        "text": "t",
    }
    cell = render._roi_cell(roi)
    assert cell.startswith("+1.12e+09% [+7.36e+08%, +1.50e+09%]")
    assert render._roi_cell({"measurable": True, "roi": 0.25, "roi_low": -0.1, "roi_high": 0.6}).startswith(
        "+25.0% [-10.0%, +60.0%]"
    )
