"""Platform settings: where Driftline keeps local state, which connections the platform uses.

Each setting `x` is read, first match wins, from
1. the environment variable `DRIFTLINE_X` (today's variables, e.g. `DRIFTLINE_HOME`);
2. Airflow's configuration section `[driftline]`, option `x`, with Airflow's own precedence
   (`AIRFLOW__DRIFTLINE__X`, its `_CMD`/`_SECRET` forms, then `airflow.cfg`). It is consulted only
   in a process that already runs Airflow (`airflow.configuration` imported): the domain stays
   Airflow-free and a training pod never imports Airflow for a setting. Elsewhere the
   `AIRFLOW__DRIFTLINE__X` variable is still honoured;
3. the default.
The options are declared (with their defaults) in the provider info (`driftline.provider`), so
`airflow config list` shows the `[driftline]` section.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SECTION = "driftline"

# Airflow settings that make the LocalExecutor's workers fork from a server that imported the heavy
# libraries once (see driftline/preload.py); `make up` sets them, the Airflow image too.
PRELOAD_ENV: dict[str, str] = {
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "airflow.executors.local_executor,driftline.preload",
}


def setting(name: str, default: str | None = None) -> str | None:
    """The value of platform setting `name` (lower case, e.g. "home"), or `default`."""
    value = os.environ.get(f"DRIFTLINE_{name.upper()}")
    if value:
        return value
    value = _airflow_option(name)
    if value:
        return value
    return default


def _airflow_option(name: str) -> str | None:
    module = sys.modules.get("airflow.configuration")
    if module is not None:
        got = module.conf.get(SECTION, name, fallback=None)
        return str(got) if got not in (None, "") else None
    return os.environ.get(f"AIRFLOW__{SECTION.upper()}__{name.upper()}") or None


def driftline_home() -> Path:
    """The state folder: snapshots, MLflow store, alerts, Airflow home for local runs."""
    return Path(setting("home") or Path.cwd() / ".driftline").resolve()


def configs_dir(default: Path | None = None) -> Path:
    """The folder of per-model YAML configs (`configs` setting, else `default`, else the project's)."""
    configured = setting("configs")
    if configured:
        return Path(configured).resolve()
    return (default or Path(__file__).resolve().parents[2] / "dags" / "configs").resolve()


def project_root() -> Path:
    """The project folder (the one holding dags/ and include/): relative config paths start here."""
    return Path(setting("project_root") or configs_dir().parents[1]).resolve()


def data_root() -> Path:
    """Where `{data_root}` in a source path points (`data` setting, default DRIFTLINE_HOME/data)."""
    return Path(setting("data") or driftline_home() / "data").resolve()


def snapshot_conn_id() -> str | None:
    """The Airflow connection of an object-store snapshot root (`snapshot_conn_id` setting)."""
    return setting("snapshot_conn_id")
