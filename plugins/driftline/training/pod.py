"""The Kubernetes backend: the real KubernetesPodOperator running `python -m driftline.training`.

GPU fields live in `training.kubernetes.resources` only (`gpu`, `gpu_resource`, `gpu_type`,
`gpu_type_label`): the local backend runs on the Airflow worker, where scikit-learn uses no GPU,
so it has none. A pod gets:

- `resources`: cpu/memory requests (limits default to the requests) and, when `gpu > 0`,
  `{gpu_resource: gpu}` as both request and limit (extended resources must match);
- `node_selector` from the config plus `{gpu_type_label: gpu_type}` when `gpu_type` is set, and the
  configured tolerations (e.g. the `nvidia.com/gpu` taint of GPU nodes);
- the Airflow pool `training.kubernetes.pool` with one slot per GPU, so GPU tasks queue in Airflow
  instead of sitting Pending in the cluster;
- a non-root, no-privilege-escalation, drop-ALL, seccomp RuntimeDefault security context on the pod,
  the training container and the XCom sidecar (Pod Security "restricted");
- `MLFLOW_TRACKING_URI` from the Kubernetes Secret `training.kubernetes.mlflow_secret` (a
  `secretKeyRef`) and every other key of that Secret (credentials) through `envFrom`: the tracking
  URI and passwords never appear in the config or the pod spec;
- `do_xcom_push=True`: the entrypoint writes its result to `/airflow/xcom/return.json`.

The default args pass the config as JSON (`--config-json`), so the pod trains exactly the config
the DAG was built from, even when the image's copy of `dags/configs` is older.

Importing this module is cheap; the kubernetes client and the provider are imported inside the
functions (they cost seconds and are banned at DAG-parse time).
"""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from driftline.config.models import ModelConfig
from driftline.training.errors import TrainingInputError

if TYPE_CHECKING:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk import Context
    from kubernetes.client import models as k8s

log = logging.getLogger(__name__)

DEFAULT_COMMAND = ("python", "-m", "driftline.training")
XCOM_PATH = "/airflow/xcom/return.json"
TRACKING_URI_KEY = "MLFLOW_TRACKING_URI"
# Kubernetes minor versions the rendered pod is validated against in the tests (kubernetes-validate
# 1.37 ships schemas for 1.25 to 1.37).
SUPPORTED_K8S_VERSIONS = ("1.30", "1.33", "1.37")
RENDER_SNAPSHOT_PLACEHOLDER = "s3://<snapshot_root>/<model>/<run_id>/training.parquet"
_TEMPLATE_MARKERS = ("{{", "{%", "{#")
IDENTITY_TEMPLATES = {
    "dag_id": "{{ ti.dag_id }}",
    "run_id": "{{ run_id }}",
    "task_id": "{{ ti.task_id }}",
    "try_number": "{{ ti.try_number }}",
}


def _config_json(config: ModelConfig) -> str:
    text = config.model_dump_json()
    if any(marker in text for marker in _TEMPLATE_MARKERS):
        # KubernetesPodOperator renders `arguments` with Jinja: keep the config literal.
        return "{% raw %}" + text + "{% endraw %}"
    return text


def training_args(
    config: ModelConfig, snapshot_uri_template: str, identity: dict[str, str] | None = None
) -> list[str]:
    """The container args: config JSON, snapshot, Airflow identity (Jinja templates by default), XCom path.

    `training.kubernetes.args`, when set, replaces these entirely.
    """
    if config.training.kubernetes.args is not None:
        return list(config.training.kubernetes.args)
    values = dict(IDENTITY_TEMPLATES)
    for key, value in (identity or {}).items():
        values[key.removeprefix("airflow.")] = str(value)
    args = ["--config-json", _config_json(config), "--snapshot", snapshot_uri_template]
    for key in ("dag_id", "run_id", "task_id", "try_number"):
        args += [f"--{key.replace('_', '-')}", values[key]]
    return [*args, "--xcom-path", XCOM_PATH]


def container_resources(config: ModelConfig) -> k8s.V1ResourceRequirements:
    """CPU/memory requests and limits, plus the GPU extended resource when `gpu > 0`."""
    from kubernetes.client import models as k8s

    res = config.training.kubernetes.resources
    requests = {"cpu": res.cpu, "memory": res.memory}
    limits = {"cpu": res.cpu_limit or res.cpu, "memory": res.memory_limit or res.memory}
    if res.gpu > 0:
        requests[res.gpu_resource] = str(res.gpu)
        limits[res.gpu_resource] = str(res.gpu)
    return k8s.V1ResourceRequirements(requests=requests, limits=limits)


def node_selector(config: ModelConfig) -> dict[str, str]:
    """The config's node selector plus the GPU model label when `gpu_type` is set."""
    kube = config.training.kubernetes
    selector = dict(kube.node_selector)
    if kube.resources.gpu_type:
        selector[kube.resources.gpu_type_label] = kube.resources.gpu_type
    return selector


def tolerations(config: ModelConfig) -> list[k8s.V1Toleration]:
    from kubernetes.client import models as k8s

    return [
        k8s.V1Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for t in config.training.kubernetes.tolerations
    ]


def pod_security_context(config: ModelConfig) -> k8s.V1PodSecurityContext:
    from kubernetes.client import models as k8s

    uid = config.training.kubernetes.run_as_user
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context(config: ModelConfig) -> k8s.V1SecurityContext:
    from kubernetes.client import models as k8s

    return k8s.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=config.training.kubernetes.run_as_user,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def mlflow_env(config: ModelConfig) -> tuple[list[k8s.V1EnvVar], list[k8s.V1EnvFromSource]]:
    """Env vars (tracking URI by secretKeyRef) and envFrom (all the Secret's keys: credentials)."""
    from kubernetes.client import models as k8s

    env = [
        k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
        k8s.V1EnvVar(name="DRIFTLINE_HOME", value="/tmp/driftline"),
        k8s.V1EnvVar(name="MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", value="false"),
        k8s.V1EnvVar(name="GIT_PYTHON_REFRESH", value="quiet"),
    ]
    secret = config.training.kubernetes.mlflow_secret
    if not secret:
        return env, []
    env.append(
        k8s.V1EnvVar(
            name=TRACKING_URI_KEY,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=TRACKING_URI_KEY)
            ),
        )
    )
    env_from = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=secret))]
    return env, env_from


def pod_labels(config: ModelConfig) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "driftline-training",
        "app.kubernetes.io/part-of": "driftline",
        "driftline/model": config.model.name,
        **config.training.kubernetes.labels,
    }


def pod_operator_kwargs(
    config: ModelConfig,
    *,
    task_id: str,
    snapshot_uri_template: str,
    identity: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every KubernetesPodOperator argument the config determines (see the module docstring)."""
    from kubernetes.client import models as k8s

    kube = config.training.kubernetes
    env, env_from = mlflow_env(config)
    timeout = dt.timedelta(minutes=kube.execution_timeout_minutes)
    return {
        "task_id": task_id,
        "name": f"train-{config.model.name.replace('_', '-')}",
        "image": kube.image,
        "cmds": list(kube.command) if kube.command is not None else list(DEFAULT_COMMAND),
        "arguments": training_args(config, snapshot_uri_template, identity),
        "namespace": kube.namespace,
        "service_account_name": kube.service_account,
        "labels": pod_labels(config),
        "container_resources": container_resources(config),
        "node_selector": node_selector(config),
        "tolerations": tolerations(config),
        "security_context": pod_security_context(config),
        "container_security_context": container_security_context(config),
        "xcom_sidecar_container_security_context": container_security_context(config),
        "env_vars": env,
        "env_from": env_from,
        "image_pull_secrets": [k8s.V1LocalObjectReference(name=n) for n in kube.image_pull_secrets],
        "pool": kube.pool,
        "pool_slots": max(1, kube.resources.gpu),
        "startup_timeout_seconds": kube.startup_timeout_seconds,
        "schedule_timeout_seconds": kube.schedule_timeout_seconds,
        "execution_timeout": timeout,
        # Kubernetes enforces the same limit itself, should the Airflow worker die mid-run.
        "active_deadline_seconds": int(timeout.total_seconds()),
        "on_finish_action": kube.on_finish_action,
        "durable": kube.reattach_on_restart,  # cncf-kubernetes >= 10.25 on Airflow 3.3: was reattach_on_restart
        "deferrable": kube.deferrable,
        "do_xcom_push": True,
        "get_logs": True,
        "log_events_on_failure": True,
    }


def build_training_pod_operator(
    config: ModelConfig,
    *,
    task_id: str,
    snapshot_uri_template: str,
    identity: dict[str, str] | None = None,
    **kwargs: Any,
) -> KubernetesPodOperator:
    """The real KubernetesPodOperator for `config`'s training.

    `snapshot_uri_template` is a URI or a Jinja template (e.g.
    `"{{ ti.xcom_pull(task_ids='validate_training')['uri'] }}"`); `identity` gives concrete
    dag_id/run_id/task_id/try_number values instead of the default Jinja templates. `kwargs`
    override or extend the operator arguments (e.g. `kubernetes_conn_id`, `retries`).
    """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    arguments = pod_operator_kwargs(
        config, task_id=task_id, snapshot_uri_template=snapshot_uri_template, identity=identity
    )
    arguments.update(kwargs)
    return KubernetesPodOperator(**arguments)


def _render_context(dag_id: str, run_id: str, task_id: str, try_number: int) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, try_number=try_number, map_index=-1)
    return {"ti": ti, "run_id": run_id, "dag": SimpleNamespace(dag_id=dag_id)}


def render_pod_manifest(
    config: ModelConfig,
    *,
    snapshot_uri: str = RENDER_SNAPSHOT_PLACEHOLDER,
    dag_id: str | None = None,
    run_id: str = "manual__render",
    task_id: str = "train",
    try_number: int = 1,
) -> dict[str, Any]:
    """The V1Pod the real operator would submit for `config`, as a plain dict (whatever the backend).

    Uses `build_pod_request_obj(context, dry_run=True)`, which needs no cluster or kube config; the
    identity args and Airflow labels are filled with the given sample run.
    """
    from kubernetes.client import ApiClient

    dag_id = dag_id or f"driftline__{config.model.name}"
    identity = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "try_number": str(try_number)}
    op = build_training_pod_operator(
        config, task_id=task_id, snapshot_uri_template=snapshot_uri, identity=identity
    )
    context = cast("Context", _render_context(dag_id, run_id, task_id, try_number))
    pod = op.build_pod_request_obj(context, dry_run=True)
    manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return manifest


def _schema_errors(manifest: dict[str, Any], version: str) -> list[str]:
    """Every schema violation (kubernetes-validate itself stops at the first one)."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    schema_version = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)][
        -1
    ]
    folder = f"kubernetes-json-schema/v{schema_version}-local-strict"
    schema = utils.schema_contents(f"{folder}/pod-v1.json", version)
    definitions = utils.schema_contents(f"{folder}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(pod)"
        problems.append(f"{where}: {error.message}")
    return problems


def validate_pod_manifest(manifest: dict[str, Any], k8s_version: str = SUPPORTED_K8S_VERSIONS[-1]) -> None:
    """Validate a pod manifest against Kubernetes `k8s_version`'s strict schema (unknown fields fail too).

    Raises TrainingInputError listing every violation.
    """
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        problems = _schema_errors(manifest, k8s_version) or [str(exc.message)]
        lines = "\n".join(f"  - {p}" for p in problems)
        raise TrainingInputError(
            f"the training pod for training.kubernetes violates the Kubernetes {k8s_version} schema "
            f"({len(problems)} problem(s)):\n{lines}"
        ) from None
    except kubernetes_validate.VersionNotSupportedError as exc:
        raise TrainingInputError(
            f"Kubernetes version {k8s_version!r} is not known to kubernetes-validate: {exc}"
        ) from None
