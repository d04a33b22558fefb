"""TrainPodOperator: training on Kubernetes, a KubernetesPodOperator subclass that Airflow runs as itself.

Imported only when a config uses `training.backend: kubernetes` (`operators.train.build_training_task`
imports it lazily): the provider module imports the kubernetes client, which costs seconds at
DAG-parse time. Because the train task *is* the pod operator:

- config values are literals, never templates: the task's only template field is Driftline's own
  `snapshot` (the `validate_training` XComArg, which also wires the dependency). The
  KubernetesPodOperator's template fields (`image`, `cmds`, `arguments`, `labels`, `node_selector`,
  `env_vars`, `namespace`, ...) are NOT template fields here, because their values come from the
  config file (`training.kubernetes.*`): `{{ conn.mlflow_default.password }}` in `args` reaches the
  pod as those characters, and the rendered-template view shows only `snapshot`. The Airflow identity
  args (`--dag-id`, `--run-id`, `--task-id`, `--try-number`) are placeholders that Driftline fills
  from the task's context after rendering (plain string replacement, no Jinja), as is the
  `--snapshot` placeholder with the rendered snapshot's URI; the model config itself travels
  base64-encoded (`--config-b64`);
- deferrable mode, durable reattach (`durable=`, cncf-kubernetes 10.25 on Airflow 3.3), `on_kill`
  pod deletion, the XCom sidecar and the start-up / scheduling timeouts are the provider's own;
- exit code 2 (the entrypoint's "bad input") fails the task without retry (`AirflowFailException`);
  any other failure takes the task's retries (the entrypoint reuses a FINISHED MLflow run);
- the XCom is the entrypoint's TrainResult (MLflow `run_id`, metrics, ...); a pod that ends without
  one is a retryable TrainingError.

The pod spec:

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
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from driftline.config.models import ModelConfig
from driftline.cost.opencost import MODEL_LABEL, RUN_LABEL
from driftline.exceptions import TrainingError
from driftline.operators.base import driftline_failure_callbacks, driftline_retry_policy
from driftline.operators.train import snapshot_uri_of
from driftline.training.errors import TrainingInputError

if TYPE_CHECKING:
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
# Stands in for the snapshot URI until the task's `snapshot` field is rendered (no Jinja in it).
SNAPSHOT_PENDING = "<validated snapshot URI, set when the task renders>"
BAD_INPUT_EXIT_CODE = 2  # driftline.training.entrypoint.main: bad input, a retry cannot help
# Filled from the task's context when it renders (not Jinja: no config text is ever a template).
IDENTITY_PLACEHOLDERS = {
    "dag_id": "<airflow dag_id, set when the task renders>",
    "run_id": "<airflow run_id, set when the task renders>",
    "task_id": "<airflow task_id, set when the task renders>",
    "try_number": "<airflow try_number, set when the task renders>",
}
# Pod labels Driftline owns (cost attribution, driftline.cost.opencost); a config's
# `training.kubernetes.labels` cannot replace them.
DAG_LABEL = "driftline/dag"


def config_b64(config: ModelConfig) -> str:
    """The config as base64 JSON: inert under Jinja (no braces), decoded by `--config-b64`."""
    return base64.b64encode(config.model_dump_json().encode("utf-8")).decode("ascii")


def training_args(config: ModelConfig, identity: dict[str, str] | None = None) -> list[str]:
    """The container args: config, snapshot placeholder, Airflow identity (placeholders filled when the
    task renders, or the given `identity`), XCom path.

    `training.kubernetes.args`, when set, replaces these entirely, as literals (never rendered).
    """
    if config.training.kubernetes.args is not None:
        return list(config.training.kubernetes.args)
    values = dict(IDENTITY_PLACEHOLDERS)
    for key, value in (identity or {}).items():
        values[key.removeprefix("airflow.")] = str(value)
    args = ["--config-b64", config_b64(config), "--snapshot", SNAPSHOT_PENDING]
    for key in ("dag_id", "run_id", "task_id", "try_number"):
        args += [f"--{key.replace('_', '-')}", values[key]]
    return [*args, "--xcom-path", XCOM_PATH]


def with_snapshot(args: list[str], uri: str) -> list[str]:
    """`args` with the snapshot placeholder replaced by `uri` (custom args are left as they are)."""
    return [uri if a == SNAPSHOT_PENDING else a for a in args]


def exit_code(remote_pod: Any, container: str) -> int | None:
    """The exit code of `container` in a finished pod, if it terminated."""
    statuses = (remote_pod.status.container_statuses if remote_pod and remote_pod.status else None) or []
    status = next((s for s in statuses if s.name == container), None)
    if status is None or status.state is None or status.state.terminated is None:
        return None
    return int(status.state.terminated.exit_code)


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
        k8s.V1EnvVar(name="DRIFTLINE_HOME", value="/tmp/driftline"),  # noqa: S108 - a path inside the training container, not on the worker
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


def with_identity(args: list[str], identity: dict[str, str]) -> list[str]:
    """`args` with each identity placeholder replaced by its value (plain replacement, no Jinja)."""
    by_placeholder = {IDENTITY_PLACEHOLDERS[k]: v for k, v in identity.items() if k in IDENTITY_PLACEHOLDERS}
    return [by_placeholder.get(a, a) for a in args]


def safe_label_value(value: str) -> str:
    """`value` as a valid Kubernetes label value (the provider's own rule: cut and hashed when long)."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return str(make_safe_label_value(value))


def pod_labels(config: ModelConfig) -> dict[str, str]:
    """The config's labels, then Driftline's own (which win: cost attribution depends on them)."""
    return {
        **config.training.kubernetes.labels,
        "app.kubernetes.io/name": "driftline-training",
        "app.kubernetes.io/part-of": "driftline",
        MODEL_LABEL: safe_label_value(config.model.name),
    }


def cost_labels(model: str, dag_id: str, run_id: str) -> dict[str, str]:
    """The labels cost attribution filters on: a run id alone is shared by every model on a schedule."""
    return {
        MODEL_LABEL: safe_label_value(model),
        DAG_LABEL: safe_label_value(dag_id),
        RUN_LABEL: safe_label_value(run_id),
    }


def pod_operator_kwargs(config: ModelConfig, *, identity: dict[str, str] | None = None) -> dict[str, Any]:
    """Every KubernetesPodOperator argument the config determines (see the module docstring)."""
    from kubernetes.client import models as k8s

    kube = config.training.kubernetes
    env, env_from = mlflow_env(config)
    timeout = dt.timedelta(minutes=kube.execution_timeout_minutes)
    return {
        "name": f"train-{config.model.name.replace('_', '-')}",
        "image": kube.image,
        "cmds": list(kube.command) if kube.command is not None else list(DEFAULT_COMMAND),
        "arguments": training_args(config, identity),
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
        # cncf-kubernetes >= 10.25 on Airflow 3.3: reattach through the task state store after a
        # worker restart (`reattach_on_restart` is deprecated there).
        "durable": kube.reattach_on_restart,
        "deferrable": kube.deferrable,
        "do_xcom_push": True,
        "get_logs": True,
        "log_events_on_failure": True,
    }


class TrainPodOperator(KubernetesPodOperator):
    """Train in a Kubernetes pod (training.backend: kubernetes); see the module docstring.

    :param model_config: the model's validated config (it becomes the pod's args and spec).
    :param snapshot: the validated training snapshot: a SnapshotRef dict or URI (templated). It must
        live in an object store (`data.snapshot_root: s3://...`): a pod cannot read the worker's disk.
    :param identity: concrete dag_id/run_id/task_id/try_number for the args instead of the
        placeholders filled when the task renders (`driftline render-pod` uses it).
    :param kwargs: KubernetesPodOperator arguments; they override what the config determines.
    """

    # Only Driftline's own field: every KubernetesPodOperator template field holds config values.
    template_fields: Sequence[str] = ("snapshot",)
    template_fields_renderers = {"snapshot": "json"}
    ui_color = "#d9e8fb"

    def __init__(
        self,
        *,
        model_config: ModelConfig,
        snapshot: Any,
        identity: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        arguments = pod_operator_kwargs(model_config, identity=identity)
        arguments.update(kwargs)
        arguments.setdefault("retry_policy", driftline_retry_policy())
        arguments.setdefault("on_failure_callback", driftline_failure_callbacks())
        super().__init__(**arguments)
        self.model_config = model_config
        self.snapshot = snapshot

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Airflow renders `snapshot` (the only template field); then Driftline fills the identity and
        snapshot placeholders of the args and the cost labels, by plain replacement."""
        super().render_template_fields(context, jinja_env)
        get = context.get if hasattr(context, "get") else (lambda _key: None)
        ti = get("ti")
        run_id = get("run_id") or getattr(ti, "run_id", None)
        dag_id = getattr(ti, "dag_id", None) or getattr(get("dag"), "dag_id", None)
        identity = {
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": getattr(ti, "task_id", None) or self.task_id,
            "try_number": getattr(ti, "try_number", None),
        }
        self.arguments = with_identity(
            list(self.arguments or []), {k: str(v) for k, v in identity.items() if v is not None}
        )
        if run_id:  # the run's pods, for OpenCost / Kubecost allocation (driftline.cost.opencost)
            self.labels = {
                **(self.labels or {}),
                **cost_labels(self.model_config.model.name, str(dag_id or ""), str(run_id)),
            }
        if isinstance(self.snapshot, str | dict):
            try:
                uri = snapshot_uri_of(self.snapshot)
            except TrainingInputError:
                return  # execute() reports it
            self.arguments = with_snapshot(list(self.arguments or []), uri)
            sha = self.snapshot.get("sha256") if isinstance(self.snapshot, dict) else None
            if sha and "--snapshot-sha256" not in self.arguments:  # the pod checks the data it reads
                self.arguments = [*self.arguments, "--snapshot-sha256", str(sha)]

    def check_inputs(self) -> None:
        """Refuse what no pod can run: a worker-local snapshot, no MLflow secret."""
        from driftline.objectstore import is_object_store_uri

        uri = snapshot_uri_of(self.snapshot)
        if not is_object_store_uri(uri):
            raise TrainingInputError(
                f"training.backend is 'kubernetes' but the training snapshot {uri} is on the worker's local "
                "disk, which a pod cannot read: set data.snapshot_root to an object-store prefix "
                "(e.g. s3://bucket/driftline/snapshots) or use training.backend: local"
            )
        if not self.model_config.training.kubernetes.mlflow_secret:
            raise TrainingInputError(
                "training.kubernetes.mlflow_secret is not set: the pod would have no MLflow tracking URI "
                "and its run would be lost; name the Kubernetes Secret holding MLFLOW_TRACKING_URI"
            )
        if SNAPSHOT_PENDING in (self.arguments or []):
            raise TrainingError(f"the snapshot argument was not filled in for {uri} (task not rendered?)")
        unfilled = sorted(set(IDENTITY_PLACEHOLDERS.values()) & set(self.arguments or []))
        if unfilled:
            raise TrainingError(
                f"the Airflow identity args were not filled in (task not rendered?): {unfilled}"
            )

    @staticmethod
    def _checked(result: Any) -> dict[str, Any]:
        if not isinstance(result, dict) or "run_id" not in result:
            # e.g. the pod was garbage-collected before its XCom was read: a retry starts a pod that
            # finds the FINISHED MLflow run of this (dag_id, run_id, task_id) and returns it.
            raise TrainingError(f"training pod finished without a TrainResult in its XCom (got {result!r})")
        return result

    def execute(self, context: Any) -> dict[str, Any]:
        self.check_inputs()
        return self._checked(super().execute(context))  # deferrable: defers inside, never returns

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return self._checked(super().trigger_reentry(context, event))

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict[Any, Any] | None = None,
        context: Any = None,
    ) -> None:
        """The provider's cleanup; a pod that exited 2 (bad input) fails the task without retry, and a
        pod deleted by someone else while it ran says so (the provider's message is only "returned a
        failure", with a pod dump that may predate the deletion)."""
        name = pod.metadata.name if pod is not None and pod.metadata is not None else "?"
        # Asked before the provider's own cleanup deletes the pod (on_finish_action).
        deleted = None if self._killed else self.deleted_elsewhere(pod)
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except AirflowException as exc:
            if exit_code(remote_pod, self.base_container_name) == BAD_INPUT_EXIT_CODE:
                raise AirflowFailException(
                    f"training pod {name} exited {BAD_INPUT_EXIT_CODE}: bad input (config or data), a "
                    "retry cannot fix it; the pod log above names the problem"
                ) from exc
            if deleted:
                raise AirflowException(
                    f"training pod {name} was deleted while it ran, not by this task ({deleted}): its "
                    "result cannot be read. A retry starts a new pod, which returns the MLflow run of "
                    "this task if the deleted pod's training had FINISHED it"
                ) from exc
            raise

    def deleted_elsewhere(self, pod: k8s.V1Pod | None) -> str | None:
        """Why `pod` is gone or going (someone deleted it), or None while it stands or if unknown."""
        from kubernetes.client.exceptions import ApiException

        if pod is None or pod.metadata is None or not pod.metadata.name:
            return None
        try:
            current = self.client.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        except ApiException as exc:
            return "it no longer exists" if exc.status == 404 else None
        except Exception:  # only improves a message: the provider's error still stands
            log.debug("could not read pod %s to check for its deletion", pod.metadata.name, exc_info=True)
            return None
        stamp = current.metadata.deletion_timestamp if current.metadata is not None else None
        return f"deletion requested at {stamp.isoformat()}" if stamp else None


def build_training_pod_operator(
    config: ModelConfig,
    *,
    task_id: str,
    snapshot: Any,
    identity: dict[str, str] | None = None,
    **kwargs: Any,
) -> TrainPodOperator:
    """The train task for `config` on Kubernetes (kwargs override operator arguments)."""
    return TrainPodOperator(
        task_id=task_id, model_config=config, snapshot=snapshot, identity=identity, **kwargs
    )


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
    """The V1Pod the train task would submit for `config`, as a plain dict (whatever the backend).

    Renders the real TrainPodOperator's templates for a sample run (Airflow's own rendering), then
    `build_pod_request_obj(context, dry_run=True)`, which needs no cluster or kube config.
    """
    from kubernetes.client import ApiClient

    dag_id = dag_id or f"driftline__{config.model.name}"
    op = build_training_pod_operator(config, task_id=task_id, snapshot=snapshot_uri)
    context = cast("Context", _render_context(dag_id, run_id, task_id, try_number))
    op.render_template_fields(context)
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
