"""The Deploy page (docs/how-to/install-and-deploy.md, moved from the README) names files that
exist and commands the Makefile has."""

from __future__ import annotations

import re

from tests.unit.deploy.schemas import DOCKER, REPO_ROOT


def deploy_section() -> str:
    text = (REPO_ROOT / "docs" / "how-to" / "install-and-deploy.md").read_text()
    start = text.index("# Deploy: laptop, compose, Kubernetes")
    return text[start : text.index("\n# Installing Driftline into an Airflow deployment", start + 1)]


def test_every_docker_path_in_the_deploy_section_exists() -> None:
    section = deploy_section()
    paths = set(re.findall(r"`(docker/[\w./-]+?)`", section))
    # manifests named by file name in the Kubernetes paragraph live in docker/k8s/
    names = re.findall(r"`([a-z0-9-]+(?:/[a-z0-9-]+)?\.yaml)`", section)
    paths |= {f"docker/k8s/{name}" for name in names if not name.startswith("docker/")}
    not_here = {
        "docker/.env",  # written by docker/compose-env.sh
        "docker/grafana/provisioning/",  # the monitoring lane's dashboards and mapping
        "docker/grafana/dashboards/",
        "docker/statsd/mapping.yml",
    }
    assert len(paths) > 10, paths
    for path in sorted(paths - not_here):
        assert (REPO_ROOT / path).exists(), f"the Deploy page names {path}, which does not exist"


def test_make_targets_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("up", "compose-up", "compose-down", "data"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "docker/compose-env.sh" in makefile
    assert (DOCKER / "compose-env.sh").stat().st_mode & 0o111
