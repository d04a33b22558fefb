"""The drift report as a user meets it: Airflow's API server, logged in, headless Chromium.

A real Evidently report whose category column holds `</script><script>alert(1)</script>` is opened
through the Driftline report page. In the browser, inside the report's frame:
- Evidently's scripts ran (the report is drawn: its column names are on the page) and the hostile
  category is shown as text;
- the frame's origin is opaque (`null`): `document.cookie` and `localStorage` throw, a credentialed
  `fetch` of Airflow's REST API fails, and the frame cannot navigate Airflow's window;
- no script of the data became a script element in it, and the framing page has no script at all.
The screenshot of the report page goes to the test's tmp folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium"),
]

# Run inside the report's frame (an isolated world: the frame's DOM and origin, not its globals).
PROBE = """(async () => {
  const out = {origin: self.origin, text: document.body ? document.body.textContent : ""};
  const root = document.querySelector('[id^="root_metric_"]');
  out.drawn = root ? root.querySelectorAll("*").length : -1;
  out.breakouts = [...document.scripts].filter(s => s.text.trim().startsWith("alert(")).length;
  try { out.cookie = document.cookie; } catch (e) { out.cookie = "threw " + e.name; }
  try { out.storage = String(window.localStorage.length); } catch (e) { out.storage = "threw " + e.name; }
  try {
    const r = await fetch("/api/v2/dags", {credentials: "include"});
    out.fetch = "status " + r.status;
  } catch (e) { out.fetch = "threw " + e.name; }
  try { window.top.location.href = "about:blank#escaped"; out.top = "navigated"; }
  catch (e) { out.top = "threw " + e.name; }
  return JSON.stringify(out);
})()"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _screenshots_module() -> Any:
    spec = importlib.util.spec_from_file_location("ui_screenshots", REPO / "scripts" / "ui_screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frame_session(browser: Any, url_part: str) -> str:
    """A DevTools session on the frame whose URL contains `url_part`.

    Chromium runs a sandboxed frame in a process of its own (an out-of-process iframe target), so
    it is reached by attaching to that target, not through the page's frame tree.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        targets = browser.call("Target.getTargets")["targetInfos"]
        found = [t for t in targets if t["type"] == "iframe" and url_part in t.get("url", "")]
        if found:
            return str(
                browser.call("Target.attachToTarget", targetId=found[0]["targetId"], flatten=True)[
                    "sessionId"
                ]
            )
        time.sleep(0.5)
    raise AssertionError(f"no frame with {url_part!r} in its URL")


def _in_frame(browser: Any, session: str, expression: str) -> Any:
    """Evaluate `expression` in the frame's own page context (its origin, its globals)."""
    browser._id += 1
    message_id = browser._id
    params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
    browser.ws.send(
        json.dumps({"id": message_id, "sessionId": session, "method": "Runtime.evaluate", "params": params})
    )
    while True:
        message = json.loads(browser.ws.recv())
        if message.get("id") == message_id:
            assert "error" not in message, message
            return message["result"].get("result", {}).get("value")


def test_the_report_runs_in_an_opaque_origin_in_a_real_browser(
    airflow_db: None, hostile_world: dict[str, Any], tmp_path: Path
) -> None:
    from driftline.devstack import Ports, airflow_env

    shots = _screenshots_module()
    port = _free_port()
    env = airflow_env(Ports(airflow=port, mlflow=_free_port(), moto=_free_port()))
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "test-password"}))
    env.update(
        {
            "DRIFTLINE_HOME": str(hostile_world["home"]),
            "DRIFTLINE_CONFIGS": str(hostile_world["configs"]),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                {"conn_type": "http", "extra": {"tracking_uri": hostile_world["uri"]}}
            ),
        }
    )
    log = (tmp_path / "api-server.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("airflow")),
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    run = hostile_world["runs"]["churn-raw"]  # stored as Evidently alone writes it: 6 breakouts on disk
    browser = None
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the API server did not come up"
                time.sleep(1)
        token = shots.login(base, "admin", "test-password")
        browser = shots.Chromium()
        browser.call("Page.enable")
        browser.call("Network.enable")
        browser.call("Network.setCookie", name="_token", value=token, url=base, path="/")
        browser.call("Page.navigate", url=f"{base}/driftline/models/churn/drift-report/{run}")
        session = _frame_session(browser, f"{run}/content")
        probe: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            probe = json.loads(_in_frame(browser, session, PROBE))
            if probe["drawn"] > 20:
                break
            time.sleep(1)
        time.sleep(1)
        browser.screenshot(tmp_path / "drift-report.png")
        page_scripts = browser.evaluate("document.scripts.length")
    finally:
        if browser is not None:
            browser.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    assert probe["drawn"] > 20, probe  # Evidently's React app drew the report under the CSP
    assert "plan" in probe["text"] and "usage" in probe["text"]
    assert probe["origin"] == "null"
    assert probe["cookie"].startswith("threw") and probe["storage"].startswith("threw")
    assert probe["fetch"].startswith("threw"), probe["fetch"]  # connect-src 'none'; cross-site anyway
    assert probe["top"].startswith("threw"), probe["top"]
    assert probe["breakouts"] == 0 and page_scripts == 0
    assert (tmp_path / "drift-report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
