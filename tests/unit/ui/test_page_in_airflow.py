"""End to end: Airflow's own API server loads the plugin; headless Chromium shows the page in the UI.

Starts `airflow api-server` (the `make up` environment from `driftline.devstack.airflow_env`:
simple auth manager, login required) on a free loopback port with a recorded history, then runs
`scripts/ui_screenshots.py`, which checks that the page's API refuses requests without a login or
with a forged token, logs in, and screenshots the Driftline page inside the Airflow UI.
Screenshots of this run go to the test's tmp folder; the committed ones in `docs/screenshots/` are
made by the same script against `make up` with `make demo`'s history (README: "The Driftline page").
"""

from __future__ import annotations

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_page_in_the_airflow_ui_with_login(ui_history: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from airflow.utils.db import initdb
    from driftline.devstack import Ports, airflow_env

    initdb()  # the session's Airflow DB: the API server's own tables (tokens, runs)
    home, facts = ui_history
    port = _free_port()
    env = airflow_env(Ports(airflow=port, mlflow=_free_port(), moto=_free_port()))
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "test-password"}))
    env.update(
        {
            "DRIFTLINE_HOME": str(home),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                {"conn_type": "http", "extra": {"tracking_uri": facts["uri"]}}
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
        out = tmp_path / "shots"
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "ui_screenshots.py"),
                "--base-url",
                base,
                "--password-file",
                str(passwords),
                "--source",
                "demo",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "DRIFTLINE_HOME": str(home)},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    assert result["unauthenticated_status"] == 401
    assert result["forged_token_status"] == 403
    assert result["unauthenticated_page_status"] == 401
    assert result["models"] == ["churn"] and result["runs"] == {"churn": 5}
    for shot in result["screenshots"]:
        data = Path(shot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, shot
    assert [Path(s).name for s in result["screenshots"]] == [
        "driftline-models.png",
        "driftline-model-churn.png",
    ]
    text = result["page_text"]  # the model's page as the browser drew it, inside the Airflow UI
    assert "Demo history" in text and "churn" in text
    assert "v1" in text and "v2" in text and "roc_auc 0.7200" in text
    assert "Drift checks and retrain decisions" in text and "retrain" in text
