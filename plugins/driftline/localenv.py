"""The project's local environment, the same one the Makefile exports, for commands run by hand.

`driftline env` prints it as `export` lines (`make env` writes them to `.driftline/env`, to
`source`); `driftline airflow ...` runs the `airflow` CLI with it; `driftline run` runs a
model's pipeline with it. Variables already set in the environment win, so a shell that sourced
the file, `make`, and these commands all agree.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

LOADER_FILE = Path("dags") / "driftline_dags.py"


def find_project_root(start: Path | None = None) -> Path:
    """DRIFTLINE_PROJECT_ROOT, else the nearest folder (from `start`, default the cwd) holding dags/driftline_dags.py."""
    if os.environ.get("DRIFTLINE_PROJECT_ROOT"):
        return Path(os.environ["DRIFTLINE_PROJECT_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / LOADER_FILE).is_file():
            return folder
    installed = Path(__file__).resolve().parents[2]  # a source checkout: plugins/driftline/localenv.py
    if (installed / LOADER_FILE).is_file():
        return installed
    raise FileNotFoundError(
        f"no Driftline project here: no {LOADER_FILE} in {here} or its parents (set DRIFTLINE_PROJECT_ROOT)"
    )


def project_env(root: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the Makefile exports, for project `root`; values already in `environ` win."""
    environ = os.environ if environ is None else environ
    root = (root or find_project_root()).resolve()
    home = Path(environ.get("DRIFTLINE_HOME") or root / ".driftline")
    airflow_home = Path(environ.get("AIRFLOW_HOME") or home / "airflow")
    defaults = {
        "DRIFTLINE_HOME": str(home),
        "DRIFTLINE_PROJECT_ROOT": str(root),
        "DRIFTLINE_CONFIGS": str(root / "dags" / "configs"),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    return {key: environ.get(key) or value for key, value in defaults.items()}


def export_lines(env: Mapping[str, str]) -> str:
    """`export KEY=value` lines a POSIX shell can `source`."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
