"""docker/k8s/ manifests validate against the Kubernetes schema (kubernetes-validate, offline,
strict: unknown fields fail), and the Helm values, RBAC, quota and GPU node group agree with the
training pod the TrainPodOperator builds from dags/configs/churn.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from driftline.operators.train_pod import SUPPORTED_K8S_VERSIONS

from tests.unit.deploy.schemas import DOCKER, REPO_ROOT, load_yaml, load_yaml_documents

K8S = DOCKER / "k8s"
MANIFEST_FILES = sorted(K8S.glob("*.yaml"))  # what `kubectl apply -f docker/k8s/` applies
VALUES = DOCKER / "helm" / "airflow-values.yaml"


def documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in MANIFEST_FILES for doc in load_yaml_documents(path)]


def objects(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in objects(kind) if d["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def training_pod() -> dict[str, Any]:
    """The churn model's training pod, rendered by Airflow from the real TrainPodOperator."""
    from driftline.config import load_config
    from driftline.operators.train_pod import render_pod_manifest

    return render_pod_manifest(load_config(REPO_ROOT / "dags" / "configs" / "churn.yaml"))


def test_the_expected_objects_are_there() -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in documents())
    for expected in (
        "Deployment/mlflow",
        "Service/mlflow",
        "Deployment/driftline-predictions",
        "Service/driftline-predictions",
        "HorizontalPodAutoscaler/driftline-predictions",
        "Role/driftline-training-pod-launcher",
        "RoleBinding/driftline-training-pod-launcher",
        "ServiceAccount/driftline-trainer",
        "ResourceQuota/driftline-training-gpus",
        "Job/driftline-airflow-pools",
    ):
        assert expected in kinds


@pytest.mark.parametrize("version", SUPPORTED_K8S_VERSIONS)
def test_every_manifest_validates(version: str) -> None:
    for path, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_validation_catches_a_wrong_manifest() -> None:
    hpa = copy.deepcopy(one("HorizontalPodAutoscaler", "driftline-predictions"))
    hpa["spec"]["minReplica"] = 2  # typo: unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, SUPPORTED_K8S_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(one("Deployment", "driftline-predictions"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] = ["cpu"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SUPPORTED_K8S_VERSIONS[-1], strict=True)


def test_rbac_allows_training_pods_in_the_training_namespace_only(training_pod) -> None:
    namespace = training_pod["metadata"]["namespace"]
    assert not objects("ClusterRole") and not objects("ClusterRoleBinding")
    (role,) = objects("Role")
    (binding,) = objects("RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert {res for res, _ in granted} == {"pods", "pods/log", "pods/exec", "events"}
    assert ("pods", "create") in granted and ("pods", "delete") in granted
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert "*" not in {verb for _, verb in granted}
    # the chart's release `airflow`: the KubernetesExecutor's task pods and the triggerer
    assert {(s["namespace"], s["name"]) for s in binding["subjects"]} == {
        ("airflow", "airflow-worker"),
        ("airflow", "airflow-triggerer"),
    }
    trainer = one("ServiceAccount", training_pod["spec"]["serviceAccountName"])
    assert trainer["metadata"]["namespace"] == namespace
    assert namespace in {d["metadata"]["name"] for d in objects("Namespace")}


def test_gpu_node_group_fits_the_training_pod(training_pod) -> None:
    (group,) = load_yaml(K8S / "gpu-nodepool" / "eksctl.yaml")["managedNodeGroups"]
    spec = training_pod["spec"]
    for key, value in spec["nodeSelector"].items():
        assert group["labels"].get(key) == value, f"node group lacks label {key}={value}"
    for taint in group["taints"]:
        assert any(
            t["key"] == taint["key"]
            and t.get("effect") in (None, taint["effect"])
            and (t["operator"] == "Exists" or t.get("value") == taint["value"])
            for t in spec["tolerations"]
        ), f"the pod does not tolerate {taint}"
    (container,) = [c for c in spec["containers"] if c["name"] == "base"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_gpu_capacity_agrees_everywhere() -> None:
    """Node group maxSize = GPU quota = the Airflow `gpu` pool's slots (compose, k8s Job, make up)."""
    (group,) = load_yaml(K8S / "gpu-nodepool" / "eksctl.yaml")["managedNodeGroups"]
    quota = one("ResourceQuota", "driftline-training-gpus")["spec"]["hard"]["requests.nvidia.com/gpu"]
    job_args = one("Job", "driftline-airflow-pools")["spec"]["template"]["spec"]["containers"][0]["args"]
    settings = load_yaml(REPO_ROOT / "airflow_settings.yaml")["airflow"]["pools"]
    (local_pool,) = [p for p in settings if p["pool_name"] == "gpu"]
    compose_init = " ".join(load_yaml(DOCKER / "docker-compose.yaml")["services"]["airflow-init"]["command"])
    assert job_args[:5] == ["airflow", "pools", "set", "gpu", "2"]
    assert group["maxSize"] == int(quota) == local_pool["pool_slot"] == 2
    assert 'airflow pools set gpu 2 "' in compose_init


def test_predictions_service_is_autoscaled() -> None:
    deployment = one("Deployment", "driftline-predictions")
    service = one("Service", "driftline-predictions")
    hpa = one("HorizontalPodAutoscaler", "driftline-predictions")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "driftline-predictions",
    }
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    # the HPA's CPU utilisation needs CPU requests on the container
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    compose = load_yaml(DOCKER / "docker-compose.yaml")
    assert compose["services"]["predictions"]["image"].endswith(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] + "}"
    )


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load_yaml(VALUES)


def test_helm_values_wire_driftline(values) -> None:
    assert values["executor"] == "KubernetesExecutor"
    assert values["airflowVersion"] == "3.3.2"
    image = f"{values['images']['airflow']['repository']}:{values['images']['airflow']['tag']}"
    assert image == "ghcr.io/driftline/airflow:0.1.0"
    assert one("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["image"] == image
    # connections only from Secrets, never inline
    assert {s["envName"] for s in values["secret"]} == {
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        "AIRFLOW_CONN_AWS_DEFAULT",
        "DRIFTLINE_COST_LEDGER_URL",
        "AIRFLOW_CONN_SPARK_DEFAULT",  # compute.engine: spark (SparkSubmitHook)
    }
    assert not [e for e in values["env"] if e["name"].startswith("AIRFLOW_CONN_")]
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == ""
    assert values["dags"]["gitSync"]["enabled"] is False  # DAGs from the image; git-sync documented
    assert values["postgresql"]["enabled"] is False and values["data"]["metadataSecretName"]


@pytest.mark.parametrize("version", SUPPORTED_K8S_VERSIONS)
def test_helm_values_kubernetes_fragments_validate(values, version: str) -> None:
    """The values' Kubernetes fragments, placed where the chart puts them (a task pod's container)."""
    env = list(values["env"]) + [
        {
            "name": s["envName"],
            "valueFrom": {"secretKeyRef": {"name": s["secretName"], "key": s["secretKey"]}},
        }
        for s in values["secret"]
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "worker", "namespace": "airflow"},
        "spec": {
            "containers": [
                {
                    "name": "base",
                    "image": f"{values['images']['airflow']['repository']}:{values['images']['airflow']['tag']}",
                    "env": env,
                    "resources": values["workers"]["resources"],
                }
            ]
        },
    }
    kubernetes_validate.validate(pod, version, strict=True)
