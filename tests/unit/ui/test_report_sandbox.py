"""A drift report with a script breakout in its data is inert in Airflow's origin.

A category value `</script><script>alert(1)</script>` flows through a real Evidently report (as the
pipeline writes it, and as Evidently alone writes it) into the served responses. Asserted:
- the report runs only in a sandbox without `allow-same-origin` (opaque origin: no Airflow cookie,
  storage or API), with no network (`connect-src 'none'`, no images or forms out), framed only by
  Airflow's own pages, rendered only as an iframe (a top-level visit downloads it);
- the page that frames it is a Driftline page with no script at all, framing it in
  `<iframe sandbox="allow-scripts">`;
- the stored report's data script is inert itself: the breakout is a string, not a script.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from driftline.drift.report import ReportFormatError, inert_script_data

from tests.unit.ui.helpers import BREAKOUT, app_client


def csp(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [values]}."""
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


class Scripts(HTMLParser):
    """The script elements of a document as a browser's tokenizer splits them (raw text until </script)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.iframes: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "iframe":
            self.iframes.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def scripts(html: str) -> Scripts:
    parser = Scripts()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
def client(
    airflow_db: None, hostile_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, dict[str, str]]]:
    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(hostile_world["configs"]))
    for app, _, tokens in app_client(
        monkeypatch, hostile_world["home"], hostile_world["uri"], {"admin": None}
    ):
        yield app, {"Authorization": tokens["admin"]}


def test_evidently_writes_the_breakout_raw_and_the_writer_makes_it_a_string(hostile_world) -> None:
    runs = hostile_world["runs"]
    assert runs  # the fixture stored both reports
    raw = (Path(hostile_world["uri"][len("sqlite:///") :]).parent / "reports" / "churn-raw").glob("*.html")
    raw_html = next(iter(raw)).read_text()
    found = scripts(raw_html).scripts
    assert sum(s.startswith("alert(1)") for s in found) >= 2  # Evidently 0.7: the breakout runs as script

    fixed = inert_script_data(raw_html)
    parsed = scripts(fixed).scripts
    assert not any(s.startswith("alert(1)") for s in parsed)
    assert len(parsed) == len(scripts(inert_script_data(raw_html.replace(BREAKOUT, "plain"))).scripts)
    assert (
        "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>" in parsed[0]
    )  # still the value, as a JS string
    assert fixed.replace("\\u003c", "<") == raw_html  # nothing else changed
    with pytest.raises(ReportFormatError, match="no Evidently data script"):
        inert_script_data("<html><script>var x = 1</script></html>")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["inert", "raw"])
def test_the_report_is_served_sandboxed_and_only_as_a_frame(client, hostile_world, kind: str) -> None:
    app, auth = client
    run = hostile_world["runs"][f"churn-{kind}"]
    url = f"/models/churn/drift-report/{run}/content"

    framed = app.get(url, headers={**auth, "Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 200 and framed.headers["content-type"].startswith("text/html")
    assert "Content-Disposition" not in framed.headers
    policy = csp(framed.headers["Content-Security-Policy"])
    assert policy["sandbox"] == ["allow-scripts"]  # an opaque origin: never allow-same-origin
    assert policy["connect-src"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert policy["default-src"] == ["'none'"] and policy["img-src"] == ["data:", "blob:"]
    assert policy["frame-ancestors"] == ["'self'"] and policy["base-uri"] == ["'none'"]
    assert framed.headers["X-Content-Type-Options"] == "nosniff"
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "plotly" in framed.text.lower()  # the report itself, viewable: Evidently's bundle is inline
    breakouts = sum(s.startswith("alert(1)") for s in scripts(framed.text).scripts)
    assert breakouts == 0  # served with its data script made inert, whoever wrote it

    for dest in ("document", None):  # opened on its own (a link, a new tab, curl): a download
        extra = {"Sec-Fetch-Dest": dest} if dest else {}
        alone = app.get(url, headers={**auth, **extra})
        assert alone.status_code == 200
        assert alone.headers["Content-Disposition"].startswith("attachment;")
        assert csp(alone.headers["Content-Security-Policy"])["sandbox"] == ["allow-scripts"]
    download = app.get(f"{url}?download=true", headers={**auth, "Sec-Fetch-Dest": "iframe"})
    assert download.headers["Content-Disposition"] == f'attachment; filename="drift-report-churn-{run}.html"'


def test_the_report_page_frames_it_in_a_sandbox_and_runs_no_script(client, hostile_world) -> None:
    app, auth = client
    run = hostile_world["runs"]["churn-inert"]
    page = app.get(f"/models/churn/drift-report/{run}", headers=auth)
    assert page.status_code == 200
    parsed = scripts(page.text)
    assert parsed.scripts == []
    assert parsed.iframes == [
        {
            "sandbox": "allow-scripts",
            "src": f"{run}/content?source=stack",
            "title": "Evidently drift report",
            "referrerpolicy": "no-referrer",
            "style": "width:100%;height:85vh;border:1px solid #e2e8f0",
        }
    ]
    policy = csp(page.headers["Content-Security-Policy"])
    assert "script-src" not in policy and policy["default-src"] == ["'none'"]  # no script of any origin
    assert policy["frame-src"] == ["'self'"] and policy["frame-ancestors"] == ["'self'"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_every_response_of_the_app_carries_the_headers(client, hostile_world) -> None:
    app, auth = client
    for path, status in (
        ("/", 200),
        ("/models/churn", 200),
        ("/api/models", 200),
        ("/api/models/nope", 404),
        ("/models/churn/drift-report/..%2F..%2Fetc", 404),
    ):
        response = app.get(path, headers=auth)
        assert response.status_code == status, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        policy = csp(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"] and "script-src" not in policy, path
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):  # no page without a login
        assert app.get(path).status_code in (401, 404), path
    anonymous = app.get("/api/models")
    assert anonymous.status_code == 401 and anonymous.headers["X-Content-Type-Options"] == "nosniff"
    assert csp(app.get("/api/models", headers=auth).headers["Content-Security-Policy"])[
        "frame-ancestors"
    ] == ["'none'"]


def test_hostile_tags_and_file_names_reach_the_served_pages_as_text(client, hostile_world) -> None:
    app, auth = client
    model = app.get("/models/churn", headers=auth).text  # decision and Airflow run tags are hostile
    listing = app.get("/", headers=auth).text  # a broken config file with a hostile name and value
    for html in (model, listing):
        assert "<img" not in html and "<svg onload" not in html and "alert(1)</script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in model
    assert "evil&quot;&lt;img src=x onerror=alert(1)&gt;.yaml" in listing
