"""The local stack behind `make up` / `make down`: Airflow standalone, an MLflow server, DynamoDB.

Each service runs as a background process whose pid and log live under DRIFTLINE_HOME
(`run/<name>.pid`, `logs/<name>.log`). Connections and pools come from airflow_settings.yaml
(the Astro CLI format), passed to Airflow as AIRFLOW_CONN_* variables and `airflow pools set`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from driftline.settings import data_root, driftline_home, project_root

AIRFLOW_PORT = 8080
MLFLOW_PORT = 5000
DYNAMODB_PORT = 4566


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def airflow_settings_env(path: Path) -> dict[str, str]:
    """AIRFLOW_CONN_* / AIRFLOW_VAR_* variables for the connections and variables of airflow_settings.yaml."""
    settings = (yaml.safe_load(path.read_text()) or {}).get("airflow", {}) if path.exists() else {}
    env: dict[str, str] = {}
    for conn in settings.get("connections") or []:
        body: dict[str, Any] = {"conn_type": conn.get("conn_type")}
        for key in ("host", "port", "login", "password", "schema"):
            if conn.get(f"conn_{key}") is not None:
                body[key] = conn[f"conn_{key}"]
        if conn.get("conn_extra"):
            body["extra"] = conn["conn_extra"]
        env[f"AIRFLOW_CONN_{conn['conn_id'].upper()}"] = json.dumps(body)
    for var in settings.get("variables") or []:
        env[f"AIRFLOW_VAR_{var['variable_name'].upper()}"] = str(var["variable_value"])
    return env


def _pools(path: Path) -> list[dict[str, Any]]:
    settings = (yaml.safe_load(path.read_text()) or {}).get("airflow", {}) if path.exists() else {}
    return list(settings.get("pools") or [])


def _pidfile(name: str) -> Path:
    return driftline_home() / "run" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _start(name: str, cmd: list[str], env: dict[str, str]) -> None:
    pidfile = _pidfile(name)
    if pidfile.exists() and _alive(int(pidfile.read_text())):
        print(f"{name}: already running (pid {pidfile.read_text().strip()})")
        return
    log = driftline_home() / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    print(f"{name}: started (pid {proc.pid}, log {log})")


def _wait(url: str, name: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                print(f"{name}: ready at {url}")
                return
        except Exception:
            time.sleep(1)
    raise SystemExit(f"{name} did not answer at {url} within {timeout:.0f}s: see {driftline_home() / 'logs'}")


def up() -> None:
    root = project_root()
    settings = root / "airflow_settings.yaml"
    env = {**os.environ, **airflow_settings_env(settings)}
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # standalone runs `airflow ...`
    )
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"  # local only: no login page
    mlflow_dir = driftline_home() / "mlflow"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    if not any((data_root() / "churn").glob("dt=*")):
        subprocess.run(
            [sys.executable, str(root / "include" / "generate_churn_data.py"), "--out", str(data_root())],
            check=True,
        )
    subprocess.run([_bin("airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    for pool in _pools(settings):
        subprocess.run(
            [
                _bin("airflow"),
                "pools",
                "set",
                pool["pool_name"],
                str(pool["pool_slot"]),
                pool.get("pool_description", ""),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _start("dynamodb", [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(DYNAMODB_PORT)], env)
    _start(
        "mlflow",
        [
            _bin("mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(mlflow_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(MLFLOW_PORT),
            "--workers",
            "1",
        ],
        env,
    )
    _start("airflow", [_bin("airflow"), "standalone"], env)
    _wait(f"http://127.0.0.1:{DYNAMODB_PORT}/moto-api/", "DynamoDB (moto)")
    _wait(f"http://127.0.0.1:{MLFLOW_PORT}/health", "MLflow")
    _wait(f"http://127.0.0.1:{AIRFLOW_PORT}/api/v2/monitor/health", "Airflow")
    print(
        f"\nAirflow UI  http://localhost:{AIRFLOW_PORT}\nMLflow UI   http://localhost:{MLFLOW_PORT}\n"
        f"DynamoDB    http://127.0.0.1:{DYNAMODB_PORT}\nStop with `make down`."
    )


def down() -> None:
    for name in ("airflow", "mlflow", "dynamodb"):
        pidfile = _pidfile(name)
        if not pidfile.exists():
            continue
        pid = int(pidfile.read_text())
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            for _ in range(30):
                if not _alive(pid):
                    break
                time.sleep(0.5)
            else:
                os.killpg(pid, signal.SIGKILL)
            print(f"{name}: stopped")
        pidfile.unlink()


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["up"]:
        up()
    elif args[:1] == ["down"]:
        down()
    else:
        raise SystemExit("usage: python -m driftline.devstack up|down")


if __name__ == "__main__":
    main()
