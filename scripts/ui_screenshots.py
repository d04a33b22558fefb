"""Check the Driftline page of a running Airflow API server and screenshot it in headless Chromium.

    .venv/bin/python scripts/ui_screenshots.py [--base-url http://127.0.0.1:8080] [--source demo]
        [--out docs/screenshots] [--password-file .driftline/airflow/passwords.json]

1. The page's API refuses requests without a login (401) and with a forged token (403).
2. Logs in (`POST /auth/token` as the stack's admin), then checks the API answers with the models.
3. Opens the Airflow UI in headless Chromium (Debian's `chromium`, driven over the DevTools
   protocol with the login cookie `_token` set) at the Driftline page in the UI's navigation
   (`/plugin/driftline`), switches the embedded page to `--source`, and saves
   `<out>/driftline-models.png`; then the first model's page as `<out>/driftline-model-<name>.png`.
Prints one JSON object as its last line: the checks' status codes, the models, the files and the
text of the last page shown (as the browser drew it).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

FRAME_READY = (
    "(() => { const f = document.querySelector('iframe'); if (!f || !f.contentDocument) return '';"
    " const d = f.contentDocument; return d.readyState === 'complete' && d.querySelector('h1') ?"
    " d.location.href : ''; })()"
)


def _open(
    url: str, *, timeout: float, headers: dict[str, str] | None = None, data: bytes | None = None
) -> Any:
    """urlopen for http(s) URLs only (the stack named by --base-url); file: and other schemes are refused."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SystemExit(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 - scheme checked above
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with _open(url, headers=headers, timeout=60) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def login(base: str, user: str, password: str) -> str:
    body = json.dumps({"username": user, "password": password}).encode()
    with _open(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, timeout=60
    ) as r:
        return str(json.load(r)["access_token"])


def api_json(base: str, path: str, token: str) -> Any:
    with _open(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=120) as r:
        return json.load(r)


class Chromium:
    """Headless Chromium driven over the DevTools protocol (one page)."""

    def __init__(self, width: int = 1500, height: int = 1100) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise SystemExit("chromium not found on PATH (Debian: apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="driftline-chromium-")
        self.proc = subprocess.Popen(  # noqa: S603 - chromium from PATH with fixed arguments
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Debian's `chromium` is a shell launcher: stop its whole group
        )
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        import websocket

        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        raise SystemExit(f"timed out after {timeout:.0f}s waiting for: {expression[:80]}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            shutil.rmtree(self.profile, ignore_errors=True)


def show(browser: Chromium, base: str, frame_url: str) -> str:
    """Open the Driftline page inside the Airflow UI, point its frame at `frame_url`, wait until drawn."""
    browser.call("Page.navigate", url=f"{base}/plugin/driftline")
    browser.wait_for(FRAME_READY)
    browser.evaluate(
        f"document.querySelector('iframe').contentWindow.location.replace({json.dumps(frame_url)})"
    )
    done = browser.wait_for(
        f"(() => {{ const h = ({FRAME_READY}); return h.endsWith({json.dumps(frame_url.split('/driftline', 1)[1])})"
        " ? h : ''; })()"
    )
    time.sleep(1.0)  # let the UI finish painting the frame
    return str(done)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-file", default=".driftline/airflow/passwords.json")
    parser.add_argument("--source", default="demo", choices=("stack", "demo"))
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args(argv)
    base = args.base_url.rstrip("/")
    password = json.loads(Path(args.password_file).read_text())[args.user]
    api = f"{base}/driftline/api/models?source={args.source}"
    result: dict[str, Any] = {
        "unauthenticated_status": _status(api),
        "forged_token_status": _status(api, {"Authorization": "Bearer not-a-token"}),
        "unauthenticated_page_status": _status(f"{base}/driftline/?source={args.source}"),
    }
    token = login(base, args.user, password)
    models = api_json(base, f"/driftline/api/models?source={args.source}", token)["models"]
    result["models"] = [m["name"] for m in models]
    result["runs"] = {m["name"]: len(m["runs"]) if isinstance(m["runs"], list) else m["runs"] for m in models}
    out = Path(args.out)
    browser = Chromium()
    try:
        browser.call("Page.enable")
        browser.call("Network.enable")
        browser.call("Network.setCookie", name="_token", value=token, url=base, path="/")
        files = []
        shot = out / "driftline-models.png"
        show(browser, base, f"{base}/driftline/?source={args.source}")
        browser.screenshot(shot)
        files.append(str(shot))
        if models:
            name = models[0]["name"]
            shot = out / f"driftline-model-{name}.png"
            browser.call(  # a taller window: the model's page (in the UI's frame) is long
                "Emulation.setDeviceMetricsOverride",
                width=1500,
                height=2300,
                deviceScaleFactor=1,
                mobile=False,
            )
            show(browser, base, f"{base}/driftline/models/{name}?source={args.source}")
            browser.screenshot(shot)
            files.append(str(shot))
        result["page_text"] = browser.evaluate(
            "document.querySelector('iframe').contentDocument.body.innerText.slice(0, 1500)"
        )
        result["screenshots"] = files
    finally:
        browser.close()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
