"""The train task on Kubernetes (a KubernetesPodOperator subclass) rendered by Airflow, its pod
validated against the Kubernetes schema. The Kubernetes API is the one thing replaced (no cluster here)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from driftline.config.models import ModelConfig, Toleration
from driftline.operators.train_pod import (
    SUPPORTED_K8S_VERSIONS,
    TrainPodOperator,
    build_training_pod_operator,
    render_pod_manifest,
    validate_pod_manifest,
)
from driftline.training.errors import TrainingInputError


def _config_arg(args: list[str]) -> ModelConfig:
    return ModelConfig.model_validate_json(base64.b64decode(_arg(args, "--config-b64")))


def _container(manifest: dict[str, Any], name: str = "base") -> dict[str, Any]:
    return next(c for c in manifest["spec"]["containers"] if c["name"] == name)


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("version", SUPPORTED_K8S_VERSIONS)
def test_rendered_pod_is_valid_for_supported_kubernetes_versions(
    example_config: ModelConfig, version: str
) -> None:
    validate_pod_manifest(render_pod_manifest(example_config), version)


def test_pod_carries_gpu_scheduling_security_and_secret_env(example_config: ModelConfig) -> None:
    manifest = render_pod_manifest(example_config, snapshot_uri="s3://lake/snap/churn/r1/training.parquet")
    spec, base = manifest["spec"], _container(manifest)
    assert manifest["metadata"]["namespace"] == "ml-training"
    assert base["image"] == "ghcr.io/driftline/train:0.1.0"
    assert base["command"] == ["python", "-m", "driftline.training"]
    assert base["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["nodeSelector"] == {"workload": "training", "nvidia.com/gpu.product": "NVIDIA-A10G"}
    assert spec["serviceAccountName"] == "driftline-trainer"
    assert spec["activeDeadlineSeconds"] == 240 * 60
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in spec["containers"]:  # the training container and the XCom sidecar
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False and ctx["runAsNonRoot"] is True
        assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {
            "type": "RuntimeDefault"
        }
    env = {e["name"]: e for e in base["env"]}
    assert env["MLFLOW_TRACKING_URI"] == {
        "name": "MLFLOW_TRACKING_URI",
        "valueFrom": {"secretKeyRef": {"name": "driftline-mlflow", "key": "MLFLOW_TRACKING_URI"}},
    }
    assert base["envFrom"] == [{"secretRef": {"name": "driftline-mlflow"}}]
    assert not any(str(e.get("value", "")).startswith(("http", "sqlite", "postgres")) for e in base["env"])
    args = base["args"]
    assert _arg(args, "--snapshot") == "s3://lake/snap/churn/r1/training.parquet"
    assert _arg(args, "--xcom-path") == "/airflow/xcom/return.json"
    assert (_arg(args, "--dag-id"), _arg(args, "--run-id"), _arg(args, "--try-number")) == (
        "driftline__churn",
        "manual__render",
        "1",
    )
    assert _config_arg(args) == example_config
    assert not re.search(
        r"(sqlite|https?|postgresql|mysql)[+\w]*://", json.dumps(manifest)
    )  # no plain-text URI
    labels = manifest["metadata"]["labels"]
    assert labels["driftline/model"] == "churn" and labels["dag_id"] == "driftline__churn"
    assert _container(manifest, "airflow-xcom-sidecar")  # do_xcom_push=True


def test_operator_pool_timeouts_and_lifecycle(example_config: ModelConfig) -> None:
    kube = example_config.training.kubernetes
    kube.deferrable = True
    kube.on_finish_action = "keep_pod"
    kube.image_pull_secrets = ["ghcr-pull"]
    op = build_training_pod_operator(example_config, task_id="train", snapshot="s3://b/k.parquet")
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    assert isinstance(op, TrainPodOperator) and isinstance(op, KubernetesPodOperator)
    assert (op.pool, op.pool_slots) == ("gpu", 1)
    assert op.startup_timeout_seconds == 600 and op.schedule_timeout_seconds == 900
    assert op.execution_timeout == dt.timedelta(minutes=240)
    assert op.on_finish_action.value == "keep_pod" and op.deferrable is True
    assert op.durable is True and op.do_xcom_push is True
    assert [s.name for s in op.image_pull_secrets] == ["ghcr-pull"]


def test_cpu_only_pod_has_no_gpu_resource(example_config: ModelConfig) -> None:
    res = example_config.training.kubernetes.resources
    res.gpu, res.gpu_type, res.memory_limit = 0, None, "20Gi"
    example_config.training.kubernetes.tolerations = [
        Toleration(key="dedicated", operator="Equal", value="ml")
    ]
    manifest = render_pod_manifest(example_config)
    validate_pod_manifest(manifest, SUPPORTED_K8S_VERSIONS[0])
    base = _container(manifest)
    assert base["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "4", "memory": "20Gi"},
    }
    assert manifest["spec"]["nodeSelector"] == {"workload": "training"}


def test_default_args_are_airflow_templates_rendered_per_run(example_config: ModelConfig) -> None:
    example_config.model.description = "literal {{ braces }} stay literal"
    op = build_training_pod_operator(example_config, task_id="train", snapshot="{{ params.snap }}")
    ti = SimpleNamespace(dag_id="driftline__churn", task_id="train", try_number=3, map_index=-1)
    op.render_template_fields(
        {"ti": ti, "run_id": "scheduled__2026-01-02", "params": {"snap": "s3://b/x.parquet"}}
    )
    args = op.arguments
    assert _arg(args, "--snapshot") == "s3://b/x.parquet"
    assert (_arg(args, "--run-id"), _arg(args, "--try-number")) == ("scheduled__2026-01-02", "3")
    assert _config_arg(args) == example_config


def test_validate_lists_every_schema_violation(example_config: ModelConfig) -> None:
    manifest = render_pod_manifest(example_config)
    base = _container(manifest)
    base["securityContext"]["runAsNonroot"] = True
    base["resources"]["limits"] = "lots"
    with pytest.raises(TrainingInputError) as exc:
        validate_pod_manifest(manifest, "1.33")
    text = str(exc.value)
    assert "violates the Kubernetes 1.33 schema (2 problem(s))" in text
    assert "spec.containers.0.resources.limits: 'lots' is not of type 'object', 'null'" in text
    assert "'runAsNonroot' was unexpected" in text
