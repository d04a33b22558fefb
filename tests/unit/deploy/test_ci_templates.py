"""The CI templates for users' repositories (docker/ci/) validate against the GitHub workflow and
GitLab CI JSON Schemas (vendored by check-jsonschema) and run what the README promises."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.deploy.schemas import DOCKER, REPO_ROOT, load_yaml, schema_errors, vendored_schema

GITHUB = DOCKER / "ci" / "github-actions.yml"
GITLAB = DOCKER / "ci" / "gitlab-ci.yml"
IMAGES = ("airflow", "train", "service")


@pytest.fixture(scope="module")
def github() -> dict[str, Any]:
    return load_yaml(GITHUB)


@pytest.fixture(scope="module")
def gitlab() -> dict[str, Any]:
    return load_yaml(GITLAB)


def test_templates_do_not_run_in_this_repository() -> None:
    assert not (REPO_ROOT / ".github" / "workflows").exists()
    assert not (REPO_ROOT / ".gitlab-ci.yml").exists()


def test_github_workflow_validates(github) -> None:
    schema = vendored_schema("github-workflows")
    assert schema_errors(github, schema) == []
    broken = copy.deepcopy(github)
    broken["jobs"]["test"]["runs-on"] = 5
    del broken["jobs"]["images"]["steps"]
    assert schema_errors(broken, schema) != []


def test_gitlab_pipeline_validates(gitlab) -> None:
    schema = vendored_schema("gitlab-ci")
    assert schema_errors(gitlab, schema) == []
    broken = copy.deepcopy(gitlab)
    broken["unit-tests"]["when"] = "sometimes"
    assert schema_errors(broken, schema) != []


def test_github_workflow_runs_the_checks_then_pushes_the_images(github) -> None:
    triggers = github["on"]
    assert "push" in triggers
    commands = "\n".join(step.get("run", "") for step in github["jobs"]["test"]["steps"])
    for expected in (
        "uv sync --frozen",
        "driftline validate dags/configs",
        "pytest tests/dags",
        "pytest tests/unit",
        "hadolint",
    ):
        assert expected in commands
    images = github["jobs"]["images"]
    assert images["needs"] == "test"
    assert images["strategy"]["matrix"]["image"] == list(IMAGES)
    build = next(s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["file"] == "docker/${{ matrix.image }}.Dockerfile"
    assert build["with"]["push"] == "${{ github.event_name == 'push' }}"
    assert images["permissions"]["packages"] == "write"


def test_gitlab_pipeline_runs_the_checks_then_pushes_the_images(gitlab) -> None:
    scripts = {
        name: "\n".join(job.get("script", [])) for name, job in gitlab.items() if isinstance(job, dict)
    }
    assert "driftline validate dags/configs" in scripts["validate-configs"]
    assert "pytest tests/dags" in scripts["dag-integrity"]
    assert "pytest tests/unit" in scripts["unit-tests"]
    assert "hadolint" in scripts["lint-dockerfiles"]
    build = gitlab["build-images"]
    assert build["parallel"]["matrix"] == [{"IMAGE": list(IMAGES)}]
    assert 'docker build -f "docker/$IMAGE.Dockerfile"' in scripts["build-images"]
    assert "docker push" in scripts["build-images"]
    assert gitlab["stages"] == ["validate", "test", "build"]


@pytest.mark.parametrize("image", IMAGES)
def test_every_image_the_templates_build_exists(image: str) -> None:
    assert (DOCKER / f"{image}.Dockerfile").is_file()
    for template in (GITHUB, GITLAB):
        assert (
            f"docker/{image}.Dockerfile" in template.read_text()
            or "${{ matrix.image }}" in template.read_text()
        )
