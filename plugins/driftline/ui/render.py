"""Server-side HTML of the Driftline pages: the models page and one page per model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from driftline.cost.roi import pct
from driftline.ui.data import DriftPoint, Missing, ModelPage, RunFacts, VersionFacts
from driftline.ui.headers import REPORT_SANDBOX as SANDBOX
from driftline.ui.sources import Source, redact_uri
from driftline.ui.svg import line_chart, sparkline

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1a202c;font-size:14px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:20px 0 6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
th{background:#f7fafc;font-weight:600}a{color:#2b6cb0}
.missing,.empty{color:#718096;font-style:italic}.state{padding:1px 6px;border-radius:8px;font-size:12px}
.success{background:#c6f6d5}.failed{background:#fed7d7}.running,.queued{background:#bee3f8}.none{background:#edf2f7}
.tabs a{margin-right:12px}.tabs .on{font-weight:700;text-decoration:none;color:#1a202c}
.alert{color:#c53030}.note{color:#4a5568;font-size:12px}.grid{display:flex;flex-wrap:wrap;gap:12px}
svg.chart text{font-size:11px;fill:#4a5568}svg.chart .title{font-size:12px;fill:#1a202c;font-weight:600}
svg.chart .frame{fill:none;stroke:#cbd5e0}svg.chart .reference{stroke:#a0aec0;stroke-dasharray:4 3}
"""


def _time(value: dt.datetime | None) -> str:
    return "&ndash;" if value is None else escape(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _missing(value: Missing) -> str:
    return f'<span class="missing">{escape(value.why)}</span>'


def _state(state: str) -> str:
    return f'<span class="state {escape(state)}">{escape(state)}</span>'


def _q(source: Source) -> str:
    return f"?source={quote(source.name, safe='')}"


def _seg(value: str) -> str:
    """`value` as one URL path segment (every `/`, `?`, `#`, `:` and quote percent-encoded)."""
    return quote(value, safe="")


def mlflow_run_link(
    source: Source, run_id: str, experiment_id: str | None = None, text: str | None = None
) -> str:
    """A link to an MLflow run in the source's MLflow UI, or the bare run id when none serves it."""
    label = escape(text or run_id[:12])
    if not run_id:
        return "&ndash;"
    if source.mlflow_ui is None:
        return f'<code title="{escape(run_id)}">{label}</code>'
    path = (
        f"#/experiments/{_seg(experiment_id)}/runs/{_seg(run_id)}"
        if experiment_id
        else f"#/runs/{_seg(run_id)}"
    )
    return f'<a href="{escape(source.mlflow_ui)}/{path}" target="_blank" rel="noopener">{label}</a>'


def airflow_run_link(run: RunFacts) -> str:
    href = f"/dags/{_seg(run.dag_id)}/runs/{_seg(run.run_id)}"
    return f'<a href="{escape(href)}" target="_top">{escape(run.run_id)}</a>'


def _version(facts: VersionFacts | Missing | None, source: Source) -> str:
    if facts is None:
        return '<span class="missing">not set</span>'
    if isinstance(facts, Missing):
        return _missing(facts)
    metric = f"{escape(facts.metric_name)} {facts.metric_value:.4f}" if facts.metric_value is not None else ""
    return f"v{facts.version} {mlflow_run_link(source, facts.run_id, text='run')}<br><span class='note'>{metric}</span>"


def _points(drift: list[DriftPoint], pick: Any) -> list[tuple[dt.datetime, float]]:
    return [(p.decided_for, v) for p in drift if (v := pick(p)) is not None]


def _alerts_cell(page: ModelPage) -> str:
    if isinstance(page.alerts, Missing):
        return _missing(page.alerts)
    if not page.open_alerts:
        return f'0 <span class="note">({len(page.alerts)} in the log)</span>'
    kinds = sorted({str(a.get("kind")) for a in page.open_alerts})
    return f'<span class="alert">{len(page.open_alerts)}</span> <span class="note">{escape(", ".join(kinds))}</span>'


def _experiment_cell(value: dict[str, Any] | Missing | None) -> str:
    if value is None:
        return '<span class="note">no experiment</span>'
    if isinstance(value, Missing):
        return _missing(value)
    shares = ", ".join(f"{escape(str(k))} {float(v):.0%}" for k, v in value.get("shares", {}).items())
    return (
        f"{escape(str(value['status']))}: v{escape(str(value['champion_version']))}"
        f" vs v{escape(str(value['challenger_version']))}"
        f"<br><span class='note'>{shares}</span>"
    )


def _cost_cell(value: dict[str, Any] | Missing) -> str:
    if isinstance(value, Missing):
        return _missing(value)
    text = f"{value['month_total']:,.4f} {escape(str(value['currency']))}"
    note = f"in {escape(str(value['month']))}"
    if value.get("budget"):
        used = value.get("budget_used") or 0.0
        css = "alert" if used >= 0.8 else "note"
        note += f", <span class='{css}'>{used:.0%} of the {value['budget']:,.2f} budget</span>"
    return f"{text}<br><span class='note'>{note}</span>"


def _roi_cell(value: dict[str, Any] | Missing) -> str:
    if isinstance(value, Missing):
        return _missing(value)
    if not value.get("measurable"):
        return f'<span class="missing">not measurable: {escape(str(value.get("reason")))}</span>'
    roi, low, high = value.get("roi"), value.get("roi_low"), value.get("roi_high")
    # the ratio as `driftline cost` prints it (scientific beyond 1e6 %: a near-zero local cost)
    head = (
        f"{pct(roi)} [{pct(low)}, {pct(high)}]"
        if roi is not None and low is not None and high is not None
        else "not defined (no cost)"
    )
    return f"{escape(head)}<br><span class='note'>{escape(str(value.get('text', '')))}</span>"


def page(title: str, body: str, source: Source, sources: Sequence[Source], path: str) -> str:
    tabs = " ".join(
        f'<a class="on" href="{escape(path)}{_q(s)}">{escape(s.label)}</a>'
        if s.name == source.name
        else f'<a href="{escape(path)}{_q(s)}">{escape(s.label)}</a>'
        for s in sources
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<style>{CSS}</style></head><body><div class="tabs">{tabs}</div>{body}'
        f'<p class="note">Source: MLflow {escape(redact_uri(source.tracking_uri))}; alerts {escape(str(source.alerts_file))}.</p>'
        "</body></html>"
    )


def models_page(
    pages: list[ModelPage], source: Source, sources: Sequence[Source], errors: dict[str, str]
) -> str:
    rows = []
    for m in pages:
        last = m.last_run
        drift = m.drift if isinstance(m.drift, list) else []
        run_cell = (
            _missing(m.runs)
            if isinstance(m.runs, Missing)
            else (
                f"{airflow_run_link(last)}<br>{_state(last.state)} {_time(last.end_date or last.start_date)}"
                if last
                else '<span class="note">no run yet</span>'
            )
        )
        drift_cell = (
            _missing(m.drift)
            if isinstance(m.drift, Missing)
            else sparkline(_points(drift, lambda p: p.drift_share), title="drift share")
        )
        live_cell = (
            _missing(m.drift)
            if isinstance(m.drift, Missing)
            else sparkline(
                _points(drift, lambda p, metric=m.metric: p.live.get(metric)), title=f"live {m.metric}"
            )
        )
        rows.append(
            "<tr>"
            f'<td><a href="models/{_seg(m.name)}{_q(source)}"><b>{escape(m.name)}</b></a></td>'
            f"<td>{_version(m.champion, source)}</td><td>{_version(m.challenger, source)}</td>"
            f"<td>{run_cell}</td><td>{drift_cell}</td><td>{live_cell}</td>"
            f"<td>{_experiment_cell(m.experiment)}</td><td>{_cost_cell(m.cost)}</td><td>{_roi_cell(m.roi)}</td>"
            f"<td>{_alerts_cell(m)}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="10" class="missing">no model configs found</td></tr>')
    broken = "".join(
        f"<li><code>{escape(path)}</code>: {escape(err.splitlines()[0] if err else '')}</li>"
        for path, err in errors.items()
    )
    body = (
        "<h1>Driftline models</h1>"
        "<table><thead><tr><th>Model</th><th>Champion</th><th>Challenger</th><th>Last run</th>"
        "<th>Drift share</th><th>Live metric</th><th>Experiment</th><th>Cost this month</th><th>ROI</th>"
        "<th>Open alerts</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + (f"<h2>Configs that do not load</h2><ul>{broken}</ul>" if broken else "")
    )
    return page("Driftline models", body, source, sources, "")


def _runs_table(m: ModelPage) -> str:
    if isinstance(m.runs, Missing):
        return _missing(m.runs)
    if not m.runs:
        return '<p class="empty">no run yet</p>'
    rows = "".join(
        f"<tr><td>{airflow_run_link(r)}</td><td>{_state(r.state)}</td><td>{escape(r.run_type)}</td>"
        f"<td>{_time(r.logical_date)}</td><td>{_time(r.start_date)}</td><td>{_time(r.end_date)}</td></tr>"
        for r in m.runs[:20]
    )
    return (
        "<table><thead><tr><th>Run</th><th>State</th><th>Type</th><th>Logical date</th><th>Started</th>"
        f"<th>Ended</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _estimate_heads() -> str:
    return "<th>Estimated (band, no labels)</th><th>Realised later</th>"


def _estimate_cells(p: DriftPoint, metric: str) -> str:
    """The label-free estimate of the run (its metric may differ from the registry's) and the realised one."""
    if not p.estimated:
        return "<td>&ndash;</td><td>&ndash;</td>"
    name, value = next(iter(p.estimated.items()))
    band = "" if p.estimated_band is None else f" [{p.estimated_band[0]:.4f}, {p.estimated_band[1]:.4f}]"
    realised = p.realised.get(name)
    shown = f"{escape(name)} {value:.4f}{band}" if name != metric else f"{value:.4f}{band}"
    return f"<td>{shown}</td><td>{'pending' if realised is None else f'{realised:.4f}'}</td>"


def _decisions_table(m: ModelPage, source: Source, reports: dict[str, str | None]) -> str:
    if isinstance(m.drift, Missing):
        return _missing(m.drift)
    if not m.drift:
        return '<p class="empty">no drift check recorded yet</p>'
    rows = []
    estimates = any(p.estimated for p in m.drift)  # the columns appear once an estimate is recorded
    for p in reversed(m.drift):
        drifted = ", ".join(sorted(c for c, d in p.drifted.items() if d)) or "none"
        report = reports.get(p.mlflow_run_id)
        report_cell = (
            f'<a href="../models/{_seg(m.name)}/drift-report/{_seg(p.mlflow_run_id)}{_q(source)}" target="_blank"'
            ' rel="noopener">report</a>'
            if report
            else '<span class="note">not built</span>'
        )
        share = "&ndash;" if p.drift_share is None else f"{p.drift_share:.2f}"
        live = p.live.get(m.metric)
        rows.append(
            f"<tr><td>{_time(p.decided_for)}</td><td>{escape(p.decision)}</td><td>{share}</td>"
            f"<td>{escape(drifted)}</td><td>{'&ndash;' if live is None else f'{live:.4f}'}</td>"
            f"{_estimate_cells(p, m.metric) if estimates else ''}"
            f"<td>{mlflow_run_link(source, p.mlflow_run_id, p.experiment_id)}</td><td>{report_cell}</td>"
            f"<td><code>{escape(p.airflow_run_id)}</code></td></tr>"
        )
    return (
        "<table><thead><tr><th>Data up to</th><th>Decision</th><th>Drift share</th><th>Drifted columns</th>"
        f"<th>Live {escape(m.metric)}</th>{_estimate_heads() if estimates else ''}<th>MLflow run</th><th>Drift report</th><th>Airflow run</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def model_detail(
    m: ModelPage, source: Source, sources: Sequence[Source], reports: dict[str, str | None]
) -> str:
    drift = m.drift if isinstance(m.drift, list) else []
    columns = sorted({c for p in drift for c in p.scores})
    charts = []
    if isinstance(m.drift, Missing):
        charts.append(_missing(m.drift))
    else:
        charts.append(
            line_chart(
                {c: _points(drift, lambda p, c=c: p.scores.get(c)) for c in columns},
                title="Drift score per column",
            )
        )
        charts.append(
            line_chart(
                {"drift share": _points(drift, lambda p: p.drift_share)},
                title="Share of columns drifted",
                y_range=(0.0, 1.0),
            )
        )
        reference = None
        if isinstance(m.champion, VersionFacts) and m.champion.metric_value is not None:
            reference = (f"v{m.champion.version} at registration", m.champion.metric_value)
        charts.append(
            line_chart(
                {f"live {m.metric}": _points(drift, lambda p: p.live.get(m.metric))},
                title=f"Live {m.metric} of the champion",
                reference=reference,
            )
        )
    cost = _cost_cell(m.cost)
    charts += _run_charts(m)
    body = (
        f'<p><a href="../{_q(source)}">&larr; all models</a></p><h1>{escape(m.name)}</h1>'
        f"<table><tbody><tr><th>Registered model</th><td>{escape(m.registered_name)}</td>"
        f'<th>Pipeline DAG</th><td><a href="/dags/{_seg(m.dag_id)}" target="_top">{escape(m.dag_id)}</a></td></tr>'
        f"<tr><th>Champion</th><td>{_version(m.champion, source)}</td><th>Challenger</th><td>{_version(m.challenger, source)}</td></tr>"
        f"<tr><th>Experiment</th><td>{_experiment_cell(m.experiment)}</td><th>Open alerts</th><td>{_alerts_cell(m)}</td></tr>"
        f"<tr><th>Cost this month</th><td>{cost}</td><th>ROI</th><td>{_roi_cell(m.roi)}</td></tr></tbody></table>"
        f'<h2>Over time</h2><div class="grid">{"".join(charts)}</div>'
        f"<h2>Drift checks and retrain decisions</h2>{_decisions_table(m, source, reports)}"
        f"<h2>Runs</h2>{_runs_table(m)}<h2>Alerts</h2>{_alerts_list(m)}"
    )
    return page(f"Driftline: {m.name}", body, source, sources, f"../models/{_seg(m.name)}")


def report_frame(model: str, run_id: str, source: Source, sources: Sequence[Source]) -> str:
    """The page of one drift report: the report in `<iframe sandbox="allow-scripts">` (`ui.headers`).

    Evidently draws the report with inline scripts; in the sandbox (no `allow-same-origin`) they run
    in an opaque origin, never in Airflow's. The frame's URL serves the report with the same
    sandbox as a Content-Security-Policy, so it stays inert when opened on its own too.
    """
    content = f"{_seg(run_id)}/content{_q(source)}"
    body = (
        f'<p><a href="../../{_seg(model)}{_q(source)}">&larr; {escape(model)}</a> &middot; '
        f'<a href="{escape(content)}&amp;download=true">download the report</a></p>'
        f"<h1>Drift report: {escape(model)}</h1>"
        f'<p class="note">MLflow run <code>{escape(run_id)}</code>. The report runs in a sandbox: it cannot '
        "reach Airflow, your session or the network.</p>"
        f'<iframe sandbox="{SANDBOX}" src="{escape(content)}" title="Evidently drift report" '
        'referrerpolicy="no-referrer" style="width:100%;height:85vh;border:1px solid #e2e8f0"></iframe>'
    )
    return page(f"Driftline: drift report of {model}", body, source, sources, _seg(run_id))


def _alerts_list(m: ModelPage) -> str:
    if isinstance(m.alerts, Missing):
        return _missing(m.alerts)
    if not m.alerts:
        return '<p class="empty">no alert recorded</p>'
    opened = {id(a) for a in m.open_alerts}
    rows = "".join(
        f"<tr><td>{escape(str(a.get('created_at', ''))[:19])}</td><td>{'open' if id(a) in opened else 'earlier'}</td>"
        f"<td>{escape(str(a.get('severity', '')))}</td><td>{escape(str(a.get('kind', '')))}</td>"
        f"<td>{escape(str(a.get('message', ''))[:300])}</td></tr>"
        for a in m.alerts[:50]
    )
    return (
        "<table><thead><tr><th>When (UTC)</th><th></th><th>Severity</th><th>Kind</th><th>Message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _daily_cost(cost: dict[str, Any] | Missing) -> list[tuple[dt.datetime, float]]:
    if isinstance(cost, Missing):
        return []
    totals: dict[str, float] = {}
    for row in cost.get("daily") or []:
        totals[str(row["day"])] = totals.get(str(row["day"]), 0.0) + float(row["amount"])
    return [(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC), v) for day, v in sorted(totals.items())]


def _run_charts(m: ModelPage) -> list[str]:
    """Cost per day (the ledger) and the per-run records (predictions and rows, validation pass rate).

    `run_duration_s` is left out: under `dag.test` (the demo) a run's start is its logical date, so
    the recorded duration spans months.
    """
    charts = []
    if isinstance(m.cost, Missing):
        charts.append(f"<p>Cost over time: {_missing(m.cost)}</p>")
    else:
        daily = _daily_cost(m.cost)
        top = max((v for _, v in daily), default=0.0)
        charts.append(
            line_chart(
                {"cost": daily},
                title=f"Cost per day ({m.cost['currency']})",
                y_range=(0.0, top * 1.1) if top > 0 else None,
            )
        )
    if isinstance(m.run_metrics, Missing):
        charts.append(f"<p>Run metrics: {_missing(m.run_metrics)}</p>")
        return charts
    if not m.run_metrics:
        charts.append('<p class="empty">Run metrics: no run has recorded its metrics yet</p>')
        return charts

    records = m.run_metrics
    logical = {r.run_id: r.logical_date for r in m.runs} if isinstance(m.runs, list) else {}

    def when(record: dict[str, Any]) -> dt.datetime:
        """The run's logical date (the data it scored) when Airflow knows the run, else when it was recorded."""
        return logical.get(str(record.get("airflow_run_id"))) or dt.datetime.fromisoformat(
            record["recorded_at"]
        )

    def series(key: str) -> list[tuple[dt.datetime, float]]:
        return [(when(r), float(r["metrics"][key])) for r in records if key in r["metrics"]]

    charts.append(
        line_chart(
            {"predictions written": series("predictions_written"), "rows loaded": series("rows_loaded")},
            title="Rows per run",
        )
    )
    charts.append(
        line_chart(
            {"pass rate": series("validation_pass_rate")}, title="Validation pass rate", y_range=(0.0, 1.0)
        )
    )
    return charts
