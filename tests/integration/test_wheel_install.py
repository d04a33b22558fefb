"""The built wheel is a working distribution: installed alone into a fresh venv it parses the DAGs.

Builds the wheel with `uv build`, installs it (runtime dependencies only, versions pinned to
uv.lock, packages from the uv cache) into a new venv outside the repo, copies dags/ elsewhere and
fills a DagBag from the copy with nothing of the repo on sys.path. Also checks what Airflow learns
from the provider entry point: the `mlflow` connection type with its form fields, and the
`[driftline]` config section with its AIRFLOW__DRIFTLINE__* overrides.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHECK = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers_manager import ProvidersManager
import driftline, driftline.settings

bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
pm = ProvidersManager()
hooks = pm.hooks
print(json.dumps({
    "driftline_file": driftline.__file__,
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": {k: str(v)[:500] for k, v in bag.import_errors.items()},
    "provider": pm.providers["driftline"].data["package-name"] if "driftline" in pm.providers else None,
    "mlflow_hook": hooks["mlflow"].connection_type if hooks.get("mlflow") else None,
    "widgets": sorted(k for k in pm.connection_form_widgets if k.startswith("extra__mlflow__")),
    "behaviour": pm.field_behaviours.get("mlflow"),
    "home": str(driftline.settings.driftline_home()),
    "snapshot_conn_id": driftline.settings.snapshot_conn_id(),
}))
"""


def _uv() -> str:
    """uv on the PATH, else the one the Makefile bootstraps into .driftline/tools (a fresh clone's
    `make install` has no other): this test runs in CI, never skips there."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(REPO / ".driftline" / "tools" / "bin"))
    if uv is None:
        pytest.fail("no uv: neither on PATH nor in .driftline/tools/bin (run `make install`)")
    return uv


@pytest.mark.slow
def test_built_wheel_installs_alone_and_parses_the_example_dags(tmp_path: Path) -> None:
    uv = _uv()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DRIFTLINE_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"

    dist = tmp_path / "dist"
    subprocess.run(
        [uv, "build", "--wheel", "-o", str(dist), str(REPO)], check=True, env=env, capture_output=True
    )
    (wheel,) = dist.glob("driftline-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        metadata = zf.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert "driftline/py.typed" in names
    assert "[apache_airflow_provider]" in entry_points
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "moto" in r and "extra ==" not in r], (
        "moto must stay out of runtime deps"
    )
    assert not [r for r in requires if "providers-sqlite" in r]

    constraints = tmp_path / "constraints.txt"
    subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o", str(constraints)],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
    )
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, env=env, capture_output=True
    )
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [uv, "pip", "install", "--python", str(python), str(wheel), "-c", str(constraints)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    dags = tmp_path / "deploy" / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    airflow_home = tmp_path / "airflow"
    run_env = {
        **env,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "no-plugins"),
        "AIRFLOW__DRIFTLINE__HOME": str(tmp_path / "state"),
        "AIRFLOW__DRIFTLINE__SNAPSHOT_CONN_ID": "aws_snapshots",
    }
    out = subprocess.run(
        [str(python), "-c", CHECK, str(dags)],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])

    assert got["driftline_file"].startswith(str(venv)), got["driftline_file"]
    assert got["import_errors"] == {}
    assert "driftline__churn" in got["dag_ids"]
    assert "driftline__churn__rollback" in got["dag_ids"]
    assert got["provider"] == "driftline"
    assert got["mlflow_hook"] == "mlflow"
    assert got["widgets"] == ["extra__mlflow__tracking_uri"]
    assert "extra" in got["behaviour"]["hidden_fields"]
    assert got["home"] == str((tmp_path / "state").resolve())
    assert got["snapshot_conn_id"] == "aws_snapshots"
