"""The local stack behind `make up` / `make down`: Airflow, an MLflow server, moto (DynamoDB + S3).

Each service runs as a background process whose pid and log live under DRIFTLINE_HOME
(`run/<name>.pid`, `logs/<name>.log`).

Not open to the network: every server binds 127.0.0.1, Airflow's per-component log servers
are not started (the API server reads the task logs from local files), and the Airflow API
and UI need a login: the simple auth manager with one `admin` user whose password is
generated once, stored in `DRIFTLINE_HOME/airflow/passwords.json` (mode 0600) and printed
by `make up`. Anonymous admin (`simple_auth_manager_all_admins`) is off.

Ports: DRIFTLINE_AIRFLOW_PORT (8080), DRIFTLINE_MLFLOW_PORT (5000), DRIFTLINE_MOTO_PORT (4566).

The connections, variables and pools of `airflow_settings.yaml` (the Astro CLI format) are
loaded into Airflow's database on every `make up` (connections imported with overwrite,
`airflow variables set`, `airflow pools set`: idempotent), so they show under Admin >
Connections / Variables / Pools and can be edited there until the next `make up`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftline.settings import PRELOAD_ENV, data_root, driftline_home, project_root

HOST = "127.0.0.1"
ADMIN_USER = "admin"
SERVICES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
_ALL = (*SERVICES, "mlflow", "moto", "airflow", "dynamodb")  # the last two: names used before


@dataclass(frozen=True)
class Ports:
    """The stack's ports, each overridable by an environment variable."""

    airflow: int
    mlflow: int
    moto: int

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Ports:
        env = dict(os.environ) if env is None else env

        def port(name: str, default: int) -> int:
            raw = env.get(name, "") or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise SystemExit(f"{name}={raw!r}: expected a TCP port number (1-65535)")
            return int(raw)

        return cls(
            airflow=port("DRIFTLINE_AIRFLOW_PORT", 8080),
            mlflow=port("DRIFTLINE_MLFLOW_PORT", 5000),
            moto=port("DRIFTLINE_MOTO_PORT", 4566),
        )


_DEFAULT_PORTS = {5000: "mlflow", 4566: "moto"}


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _settings(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: expected a mapping with an `airflow:` key")
    section = loaded.get("airflow") or {}
    if not isinstance(section, dict):
        raise SystemExit(f"{path}: `airflow:` must be a mapping of connections, variables and pools")
    return section


def _local_port(value: object, ports: Ports) -> object:
    """A devstack default port (5000, 4566) mapped to the port this stack really uses."""
    if isinstance(value, int) and value in _DEFAULT_PORTS:
        return getattr(ports, _DEFAULT_PORTS[value])
    return value


def _retarget_url(url: str, ports: Ports) -> str:
    for default, service in _DEFAULT_PORTS.items():
        for host in (HOST, "localhost"):
            url = url.replace(f"//{host}:{default}", f"//{host}:{getattr(ports, service)}")
    return url


def connections_document(path: Path, ports: Ports | None = None) -> dict[str, dict[str, Any]]:
    """The connections of airflow_settings.yaml as `airflow connections import` JSON.

    Connections that point at this stack's default ports (MLflow 5000, moto 4566) on loopback
    are pointed at the ports actually used (DRIFTLINE_MLFLOW_PORT, DRIFTLINE_MOTO_PORT).
    """
    ports = ports or Ports.from_env()
    out: dict[str, dict[str, Any]] = {}
    for i, conn in enumerate(_settings(path).get("connections") or []):
        if not isinstance(conn, dict) or not conn.get("conn_id") or not conn.get("conn_type"):
            raise SystemExit(f"{path}: airflow.connections[{i}] needs conn_id and conn_type")
        body: dict[str, Any] = {"conn_type": conn["conn_type"]}
        for key in ("host", "port", "login", "password", "schema", "description"):
            if conn.get(f"conn_{key}") is not None:
                body[key] = conn[f"conn_{key}"]
        if body.get("host") in (HOST, "localhost") and "port" in body:
            body["port"] = _local_port(body["port"], ports)
        extra = conn.get("conn_extra")
        if extra:
            if isinstance(extra, dict):
                extra = {k: _retarget_url(v, ports) if isinstance(v, str) else v for k, v in extra.items()}
            body["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        out[str(conn["conn_id"])] = body
    return out


def variables(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, var in enumerate(_settings(path).get("variables") or []):
        if not isinstance(var, dict) or "variable_name" not in var:
            raise SystemExit(f"{path}: airflow.variables[{i}] needs variable_name and variable_value")
        value = var.get("variable_value", "")
        out[str(var["variable_name"])] = value if isinstance(value, str) else json.dumps(value)
    return out


def pools(path: Path) -> list[dict[str, Any]]:
    out = []
    for i, pool in enumerate(_settings(path).get("pools") or []):
        if not isinstance(pool, dict) or "pool_name" not in pool or "pool_slot" not in pool:
            raise SystemExit(f"{path}: airflow.pools[{i}] needs pool_name and pool_slot")
        out.append(pool)
    return out


def passwords_file() -> Path:
    return driftline_home() / "airflow" / "passwords.json"


def admin_password() -> str:
    """The admin password, generated once and kept in passwords.json (0600)."""
    path = passwords_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text() or "{}")
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path} is not JSON ({exc}): delete it to generate a new password") from exc
    if not stored.get(ADMIN_USER):
        stored[ADMIN_USER] = secrets.token_urlsafe(18)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(stored, out)
    path.chmod(0o600)
    return stored[ADMIN_USER]


def airflow_env(ports: Ports, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow process of the stack: loopback, login required."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    api = f"http://{HOST}:{ports.airflow}"
    env.update(
        {
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file()),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(ports.airflow),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": HOST,
        }
    )
    # task processes fork from a worker pool that imported the heavy libraries once (driftline.preload)
    for key, value in PRELOAD_ENV.items():
        env.setdefault(key, value)
    for key in [k for k in env if k.startswith("AIRFLOW_CONN_")]:
        if key[len("AIRFLOW_CONN_") :].lower() in _connection_ids():
            env.pop(key)  # the DB copy (editable in the UI) must win over an environment copy
    return env


def _connection_ids() -> set[str]:
    return set(connections_document(project_root() / "airflow_settings.yaml"))


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
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # noqa: S603 - the stack's own commands (venv binaries), argument lists, no shell
    pidfile.write_text(str(proc.pid))
    print(f"{name}: started (pid {proc.pid}, log {log})")


def _wait(url: str, name: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - an http://127.0.0.1 health URL built from the stack's ports
                print(f"{name}: ready at {url}")
                return
        except Exception:
            time.sleep(1)
    raise SystemExit(f"{name} did not answer at {url} within {timeout:.0f}s: see {driftline_home() / 'logs'}")


def _airflow(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([_bin("airflow"), *args], env=env, capture_output=True, text=True)  # noqa: S603 - the venv's own airflow binary; an argument list, no shell
    if done.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args[:3])} ...` failed:\n{done.stdout}\n{done.stderr}")


def load_airflow_settings(settings: Path, env: dict[str, str], ports: Ports) -> None:
    """Connections, variables and pools of airflow_settings.yaml into Airflow's DB (idempotent)."""
    conns = connections_document(settings, ports)
    if conns:
        fd, name = tempfile.mkstemp(suffix=".json", dir=driftline_home())
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(conns, out)
            _airflow(["connections", "import", "--overwrite", name], env)
        finally:
            os.unlink(name)
    for key, value in variables(settings).items():
        _airflow(["variables", "set", key, value], env)
    for pool in pools(settings):
        _airflow(
            ["pools", "set", pool["pool_name"], str(pool["pool_slot"]), pool.get("pool_description", "")], env
        )
    print(
        f"airflow_settings.yaml: {len(conns)} connection(s), {len(variables(settings))} variable(s), "
        f"{len(pools(settings))} pool(s) loaded into Airflow"
    )


def up() -> None:
    root = project_root()
    ports = Ports.from_env()
    settings = root / "airflow_settings.yaml"
    env = airflow_env(ports)
    password = admin_password()
    mlflow_dir = driftline_home() / "mlflow"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    if not any((data_root() / "churn").glob("dt=*")):
        subprocess.run(  # noqa: S603 - this interpreter running the repository's data generator
            [sys.executable, str(root / "include" / "generate_churn_data.py"), "--out", str(data_root())],
            check=True,
        )
    _airflow(["db", "migrate"], env)
    load_airflow_settings(settings, env, ports)
    _start("moto", [_bin("moto_server"), "-H", HOST, "-p", str(ports.moto)], env)
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
            HOST,
            "--port",
            str(ports.mlflow),
            "--workers",
            "1",
        ],
        env,
    )
    airflow = _bin("airflow")
    _start("airflow-api-server", [airflow, "api-server", "--host", HOST, "--port", str(ports.airflow)], env)
    _start("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"], env)
    _start("airflow-dag-processor", [airflow, "dag-processor"], env)
    _start("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"], env)
    _wait(f"http://{HOST}:{ports.moto}/moto-api/", "moto (DynamoDB, S3)")
    _wait(f"http://{HOST}:{ports.mlflow}/health", "MLflow")
    _wait(f"http://{HOST}:{ports.airflow}/api/v2/monitor/health", "Airflow")
    print(
        f"\nAirflow UI  http://{HOST}:{ports.airflow}   user {ADMIN_USER}  password {password}\n"
        f"            (stored in {passwords_file()}, mode 0600)\n"
        f"Driftline   http://{HOST}:{ports.airflow}/plugin/driftline   (the Driftline page; after `make demo` "
        "its history is under 'Demo history')\n"
        f"MLflow UI   http://{HOST}:{ports.mlflow}\n"
        f"moto        http://{HOST}:{ports.moto} (DynamoDB and S3)\n"
        "Everything listens on 127.0.0.1 only. Stop with `make down`."
    )


def down() -> None:
    for name in _ALL:
        pidfile = _pidfile(name)
        if not pidfile.exists():
            continue
        pid = int(pidfile.read_text())
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
                for _ in range(30):
                    if not _alive(pid):
                        break
                    time.sleep(0.5)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:  # the group ended meanwhile
                pass
            print(f"{name}: stopped")
        pidfile.unlink(missing_ok=True)


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
