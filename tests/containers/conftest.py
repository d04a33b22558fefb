"""Opt-in container tests (`make test-containers`): they build images and start containers, which
takes minutes and needs podman (or Docker), so the ordinary suite skips them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "docker" / "local"
VERSION = "0.1.0"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.containers)
            if os.environ.get("DRIFTLINE_CONTAINER_TESTS") != "1":
                item.add_marker(
                    pytest.mark.skip(reason="opt-in: make test-containers (DRIFTLINE_CONTAINER_TESTS=1)")
                )


def podman_env() -> dict[str, str]:
    """The environment docker/local/podman-env.sh sets up (Driftline's own podman state)."""
    out = subprocess.run(
        ["bash", "-c", f"source {LOCAL / 'podman-env.sh'} && env -0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


@pytest.fixture(scope="session")
def podman() -> dict[str, str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install podman buildah runc debootstrap")
    return podman_env()


@pytest.fixture(scope="session")
def images(podman: dict[str, str]) -> dict[str, str]:
    """The three images, built from this checkout by `make images` (docker/local/images.sh): a no-op
    on podman's layer cache when nothing changed, minutes when the code or uv.lock did (then the
    dependency layers rebuild too). DRIFTLINE_REUSE_IMAGES=1 takes the images as they are (only the
    missing ones are built): quicker, but an image from older code tests that code."""
    tags = {name: f"ghcr.io/driftline/{name}:{VERSION}" for name in ("airflow", "train", "service")}
    build = [
        n for n, t in tags.items() if subprocess.run(["podman", "image", "exists", t], env=podman).returncode
    ]
    if os.environ.get("DRIFTLINE_REUSE_IMAGES") != "1":
        build = list(tags)
    if build:
        subprocess.run(
            [str(LOCAL / "images.sh")], check=True, env={**podman, "IMAGES": " ".join(build)}, timeout=3600
        )
    return tags
