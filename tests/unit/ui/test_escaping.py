"""Every user-controlled string the page renders is text, never markup, wherever it lands.

Each hostile value goes into every string the pages show at once (model, registered model, metric,
column names, run ids, decisions, states, alert kinds and messages, experiment fields, currency,
ROI reasons, config file names and their errors, the source's label and MLflow URI). The rendered
document must have exactly the tags and attributes of the same page rendered with a plain value
(nothing opened, closed or added by a value), no event-handler attribute, no script, no link that
is not Driftline's own, and must show the value as text.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from driftline.ui import data, render
from driftline.ui.sources import Source

from tests.unit.ui.helpers import HOSTILE

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
MLFLOW_UI = "http://mlflow.example"


def own_link(url: str) -> bool:
    """A relative link inside Airflow's origin, or the source's MLflow UI."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return url.startswith(f"{MLFLOW_UI}/#/")
    return not url.startswith("//")


class Document(HTMLParser):
    """Tags with their attribute names, attribute values, and the text of a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, tuple[str, ...]]] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append((tag, tuple(name for name, _ in attrs)))
        self.attrs += [(tag, name, value or "") for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        self.shape.append((f"/{tag}", ()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Document:
    doc = Document()
    doc.feed(html)
    doc.close()
    return doc


def hostile_page(value: str) -> tuple[data.ModelPage, Source, dict[str, str], dict[str, str | None]]:
    """A model page, its source, config errors and reports with `value` in every string field."""
    v = value
    days = [T0 + dt.timedelta(days=i) for i in range(3)]
    runs = [
        data.RunFacts(
            dag_id=v, run_id=f"{v}{i}", state=v, run_type=v, logical_date=d, start_date=d, end_date=d
        )
        for i, d in enumerate(days)
    ]
    drift = [
        data.DriftPoint(
            decided_for=d,
            mlflow_run_id=f"{v}{i}",
            experiment_id=v,
            airflow_run_id=v,
            decision=v,
            drift_share=0.1 * i,
            drifted_columns=1.0,
            scores={v: 0.2 * i, f"{v}2": 0.1},
            drifted={v: True, f"{v}2": False},
            live={v: 0.7},
            estimated={v: 0.71},
            estimated_band=(0.69, 0.73),
            realised={v: 0.7} if i else {},
        )
        for i, d in enumerate(days)
    ]
    alert = {"kind": v, "severity": v, "message": v, "created_at": v, "run": {"run_id": v}, "model": v}
    page = data.ModelPage(
        name=v,
        registered_name=v,
        dag_id=v,
        metric=v,
        champion=data.VersionFacts(
            version=1, run_id=v, metric_name=v, metric_value=0.7, trained_until=T0, promoted_at=T0
        ),
        challenger=data.Missing(v),
        runs=runs,
        drift=drift,
        alerts=[alert, dict(alert)],
        open_alerts=[alert],
        experiment={
            "id": v,
            "status": v,
            "champion_version": v,
            "challenger_version": v,
            "shares": {v: 0.5, f"{v}2": 0.5},
        },
        cost={
            "currency": v,
            "month": v,
            "month_total": 1.5,
            "budget": 10.0,
            "budget_used": 0.9,
            "daily": [{"day": "2026-03-01", "amount": 1.0}, {"day": "2026-03-02", "amount": 0.5}],
        },
        roi={"measurable": True, "roi": 0.2, "roi_low": 0.1, "roi_high": 0.3, "text": v},
        run_metrics=[
            {"airflow_run_id": v, "recorded_at": d.isoformat(), "metrics": {"rows_loaded": 5.0}} for d in days
        ],
    )
    source = Source(
        name=v,
        label=v,
        tracking_uri=v,
        alerts_file=Path(v),
        airflow_session=None,  # type: ignore[arg-type]  # not read by the renderer
        mlflow_ui=MLFLOW_UI,
        home=Path(v),
    )
    errors = {f"/configs/{v}.yaml": f"{v}\nmore {v}"}
    reports: dict[str, str | None] = {f"{v}1": "drift/report.html"}
    return page, source, errors, reports


def rendered(value: str) -> dict[str, str]:
    page, source, errors, reports = hostile_page(value)
    missing_roi = data.ModelPage(**{**page.__dict__, "roi": {"measurable": False, "reason": value}})
    return {
        "models": render.models_page([page], source, [source], errors),
        "model": render.model_detail(page, source, [source], reports),
        "model_missing_roi": render.model_detail(missing_roi, source, [source], reports),
        "report": render.report_frame(value, value, source, [source]),
    }


PLAIN = rendered("plain")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("view", sorted(PLAIN))
def test_a_hostile_value_is_text_in_every_place(view: str, value: str) -> None:
    html = rendered(value)[view]
    doc, plain = parse(html), parse(PLAIN[view])
    assert doc.shape == plain.shape  # no tag or attribute opened, closed or added by the value
    for tag, name, attr in doc.attrs:
        assert not name.startswith("on"), (tag, name)
        if name in ("href", "src"):
            assert own_link(attr), (tag, attr)
    assert all(tag not in ("script", "img", "object", "embed", "base", "form") for tag, _ in doc.shape)
    assert value in "".join(doc.text)  # shown, as text
    assert "49" not in "".join(doc.text) or "49" in "".join(plain.text)  # {{7*7}} is no template


def test_links_keep_hostile_values_inside_one_path_segment() -> None:
    value = "../../api/v2/connections?x=#"
    html = rendered(value)["models"]
    hrefs = [a for tag, name, a in parse(html).attrs if name == "href"]
    assert (
        "models/..%2F..%2Fapi%2Fv2%2Fconnections%3Fx%3D%23?source=..%2F..%2Fapi%2Fv2%2Fconnections%3Fx%3D%23"
        in hrefs
    )
    assert all("../../api" not in h for h in hrefs)


def test_the_tracking_uri_is_shown_without_its_password() -> None:
    page, source, errors, _ = hostile_page("plain")
    source = Source(**{**source.__dict__, "tracking_uri": "https://user:s3cret@mlflow.example/x"})
    html = render.models_page([page], source, [source], errors)
    assert "s3cret" not in html and "https://mlflow.example/x" in html


@pytest.mark.slow
def test_a_ledger_or_mlflow_url_with_a_password_is_shown_without_it(monkeypatch, tmp_path) -> None:
    from driftline.config import load_config

    config = load_config(Path(__file__).resolve().parents[3] / "dags" / "configs" / "churn.yaml")
    monkeypatch.setenv("DRIFTLINE_COST_LEDGER_URL", "postgresql+psycopg://ledger:s3cret@127.0.0.1:1/ledger")
    _, source, _, _ = hostile_page("plain")
    source = Source(**{**source.__dict__, "name": "stack"})
    if config.cost is None or not config.cost.enabled:
        pytest.skip("the example config records no cost")
    cost, _ = data.cost_and_roi(source, config, None)
    assert isinstance(cost, data.Missing) and "s3cret" not in cost.why and "127.0.0.1:1/ledger" in cost.why
    registry = data.aliases(data.ReadOnlyMlflow("http://user:s3cret@127.0.0.1:1"), "churn")
    assert isinstance(registry, data.Missing) and "s3cret" not in registry.why, registry
