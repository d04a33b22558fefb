"""Where Driftline keeps local state: one folder, `DRIFTLINE_HOME` (default `./.driftline`)."""

from __future__ import annotations

import os
from pathlib import Path


def driftline_home() -> Path:
    """The state folder: snapshots, MLflow store, alerts, Airflow home for local runs."""
    return Path(os.environ.get("DRIFTLINE_HOME", Path.cwd() / ".driftline")).resolve()


def configs_dir(default: Path | None = None) -> Path:
    """The folder of per-model YAML configs (`DRIFTLINE_CONFIGS`, else `default`, else the project's)."""
    if "DRIFTLINE_CONFIGS" in os.environ:
        return Path(os.environ["DRIFTLINE_CONFIGS"]).resolve()
    return (default or Path(__file__).resolve().parents[2] / "dags" / "configs").resolve()


def project_root() -> Path:
    """The project folder (the one holding dags/ and include/): relative config paths start here."""
    return Path(os.environ.get("DRIFTLINE_PROJECT_ROOT", configs_dir().parents[1])).resolve()


def data_root() -> Path:
    """Where `{data_root}` in a source path points (`DRIFTLINE_DATA`, default DRIFTLINE_HOME/data)."""
    return Path(os.environ.get("DRIFTLINE_DATA", driftline_home() / "data")).resolve()
