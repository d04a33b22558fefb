"""The factory's real `train` task for a kubernetes config, rendered by Airflow and validated as a pod.

The config's text contains Jinja markers (`{{ }}`, `{%`, `{#`) in its description and SQL query:
Airflow renders the task's template fields, the config reaches the pod unchanged (base64), the
identity args are rendered, and the pod is valid Kubernetes. The Kubernetes API (no cluster here)
is the only thing replaced, in the kill and exit-code tests.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from driftline.config.models import ModelConfig, SqlSource
from driftline.operators.train_pod import SUPPORTED_K8S_VERSIONS, TrainPodOperator, validate_pod_manifest

SNAPSHOT = {
    "uri": "s3://lake/driftline/churn/scheduled__2026-01-02/training.parquet",
    "rows": 10,
    "sha256": "ab",
    "status": "validated",
    "facts": {},
}
HOSTILE_DESCRIPTION = "Churn {{ ds }} model {% if x %}raw{% endif %} {# not a comment #} {{"
HOSTILE_QUERY = (
    "SELECT * FROM events WHERE note <> '{{ var.value.secret }}' AND tag = '{%' "
    "AND c = '{#' AND ts >= :window_start AND ts < :window_end"
)


class _TaskInstance(SimpleNamespace):
    """What Airflow's renderer asks a task instance for: identity and the upstream XCom."""

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        assert (task_ids, key) == ("validate_training", "return_value")
        return SNAPSHOT


def _hostile_kube_config(config: ModelConfig) -> ModelConfig:
    cfg = config.model_copy(deep=True)
    cfg.model.description = HOSTILE_DESCRIPTION
    cfg.data.source = SqlSource(kind="sql", conn_id="warehouse", query=HOSTILE_QUERY)
    cfg.data.snapshot_root = "s3://lake/driftline"
    cfg.training.backend = "kubernetes"
    cfg.training.kubernetes.deferrable = True
    return cfg


@pytest.fixture
def train_task(example_config: ModelConfig, example_config_path: Path) -> TrainPodOperator:
    from driftline.factory.dags import build_pipeline_dag

    dag = build_pipeline_dag(_hostile_kube_config(example_config), example_config_path)
    task = dag.get_task("train")
    assert isinstance(task, TrainPodOperator)
    return task


def _context(task: TrainPodOperator) -> dict[str, Any]:
    ti = _TaskInstance(
        dag_id=task.dag_id, task_id=task.task_id, run_id="scheduled__2026-01-02", try_number=2, map_index=-1
    )
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "dag": task.dag, "task": task, "params": {}}


def _container(manifest: dict[str, Any], name: str = "base") -> dict[str, Any]:
    return next(c for c in manifest["spec"]["containers"] if c["name"] == name)


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_airflow_renders_the_real_task_and_the_config_reaches_the_pod_literally(
    train_task: TrainPodOperator, example_config: ModelConfig
) -> None:
    from kubernetes.client import ApiClient

    assert train_task.upstream_task_ids == {"validate_training"}  # the snapshot XComArg wires it
    context = _context(train_task)
    train_task.render_template_fields(context)  # Airflow's own template rendering
    args = train_task.arguments
    config = ModelConfig.model_validate_json(base64.b64decode(_arg(args, "--config-b64")))
    assert config == _hostile_kube_config(example_config)
    assert config.model.description == HOSTILE_DESCRIPTION and config.data.source.query == HOSTILE_QUERY
    assert _arg(args, "--snapshot") == SNAPSHOT["uri"]
    assert (_arg(args, "--dag-id"), _arg(args, "--run-id"), _arg(args, "--task-id")) == (
        "driftline__churn",
        "scheduled__2026-01-02",
        "train",
    )
    assert _arg(args, "--try-number") == "2"
    train_task.check_inputs()  # object-store snapshot, MLflow secret, placeholder filled

    pod = train_task.build_pod_request_obj(context, dry_run=True)
    manifest = ApiClient().sanitize_for_serialization(pod)
    for version in SUPPORTED_K8S_VERSIONS:
        validate_pod_manifest(manifest, version)
    assert manifest["spec"]["containers"][0]["args"] == args
    assert manifest["metadata"]["labels"]["run_id"] == "scheduled__2026-01-02"


def test_provider_lifecycle_settings_come_from_the_config(train_task: TrainPodOperator) -> None:
    kube = train_task.model_config.training.kubernetes
    assert train_task.deferrable is True and train_task.durable is True
    assert train_task.startup_timeout_seconds == kube.startup_timeout_seconds
    assert train_task.schedule_timeout_seconds == kube.schedule_timeout_seconds
    assert train_task.execution_timeout == dt.timedelta(minutes=kube.execution_timeout_minutes)
    assert train_task.do_xcom_push is True and train_task.retries == 2


def _finished_pod(code: int) -> Any:
    from kubernetes.client import models as k8s

    terminated = k8s.V1ContainerStateTerminated(exit_code=code, reason="Error" if code else "Completed")
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="train-churn-abc", namespace="ml-training"),
        status=k8s.V1PodStatus(
            phase="Failed" if code else "Succeeded",
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="base",
                    image="x",
                    image_id="x",
                    ready=False,
                    restart_count=0,
                    state=k8s.V1ContainerState(terminated=terminated),
                )
            ],
        ),
    )


def _no_cluster(task: TrainPodOperator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in (
        "is_istio_enabled",
        "patch_already_checked",
        "process_pod_deletion",
        "_read_pod_events",
        "_read_pod_container_states",
    ):
        monkeypatch.setattr(task, name, lambda *a, _n=name, **k: bool(calls.append(_n)))
    return calls


def test_exit_code_2_fails_without_retry_other_failures_retry(
    train_task: TrainPodOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    calls = _no_cluster(train_task, monkeypatch)
    train_task.__dict__["client"] = SimpleNamespace(
        read_namespaced_pod=lambda name, namespace: _finished_pod(2)
    )
    bad_input = _finished_pod(2)
    with pytest.raises(AirflowFailException, match="exited 2: bad input"):
        train_task.cleanup(bad_input, bad_input)
    assert "process_pod_deletion" in calls  # the provider's cleanup still ran
    crashed = _finished_pod(1)
    with pytest.raises(AirflowException) as exc:
        train_task.cleanup(crashed, crashed)
    assert not isinstance(exc.value, AirflowFailException)
    train_task.cleanup(_finished_pod(0), _finished_pod(0))  # success: no error


def test_a_pod_deleted_by_someone_else_says_so(
    train_task: TrainPodOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen on a real cluster (tests/containers/test_train_pod_k8s.py): `kubectl delete pod` mid-run
    failed the task with only "Pod ... returned a failure" and a pod dump from before the deletion."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
    from kubernetes.client.exceptions import ApiException

    calls = _no_cluster(train_task, monkeypatch)
    crashed = _finished_pod(137)
    deleting = _finished_pod(137)
    deleting.metadata.deletion_timestamp = dt.datetime(2026, 12, 7, 22, 18, 51, tzinfo=dt.UTC)
    train_task.__dict__["client"] = SimpleNamespace(read_namespaced_pod=lambda name, namespace: deleting)
    with pytest.raises(
        AirflowException,
        match=r"train-churn-abc was deleted while it ran, not by this task \(deletion requested at 2026-12-07T22:18:51",
    ) as exc:
        train_task.cleanup(crashed, crashed)
    assert not isinstance(exc.value, AirflowFailException)  # a retry may still succeed
    assert "process_pod_deletion" in calls

    def gone(name: str, namespace: str) -> Any:
        raise ApiException(status=404)

    train_task.__dict__["client"] = SimpleNamespace(read_namespaced_pod=gone)
    with pytest.raises(AirflowException, match="it no longer exists"):
        train_task.cleanup(crashed, crashed)
    # A pod that stands (no deletion asked): the provider's own message, unchanged.
    train_task.__dict__["client"] = SimpleNamespace(read_namespaced_pod=lambda name, namespace: crashed)
    with pytest.raises(AirflowException, match="returned a failure") as plain:
        train_task.cleanup(crashed, crashed)
    assert "deleted" not in str(plain.value)


def test_no_trainresult_in_the_xcom_is_a_retryable_error(
    train_task: TrainPodOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from driftline.exceptions import PermanentError, TrainingError

    monkeypatch.setattr(KubernetesPodOperator, "trigger_reentry", lambda self, context, event: None)
    with pytest.raises(TrainingError, match="without a TrainResult") as exc:
        train_task.trigger_reentry(_context(train_task), {"status": "success"})
    assert not isinstance(exc.value, PermanentError)


def test_on_kill_deletes_the_pod(train_task: TrainPodOperator) -> None:
    deleted: list[dict[str, Any]] = []
    train_task.__dict__["client"] = SimpleNamespace(delete_namespaced_pod=lambda **kw: deleted.append(kw))
    train_task.pod = _finished_pod(0)
    train_task.on_kill()
    assert deleted == [{"name": "train-churn-abc", "namespace": "ml-training"}]


def test_bad_input_before_the_pod_fails_without_retry(example_config: ModelConfig) -> None:
    from airflow.sdk import RetryAction
    from driftline.training.errors import TrainingInputError

    cfg = _hostile_kube_config(example_config)
    task = TrainPodOperator(
        task_id="train", model_config=cfg, snapshot={"uri": "/local/disk/training.parquet"}
    )
    with pytest.raises(TrainingInputError, match="a pod cannot read") as exc:
        task.execute({})
    assert task.retry_policy is not None
    assert task.retry_policy.evaluate(exc.value, 1, 3).action is RetryAction.FAIL


# --- config values are literals (issue 22): nothing in training.kubernetes is ever a template ---------

STEAL_CONN = "{{ conn.mlflow_default.password }}"
STEAL_VAR = "{{ var.value.x }}"
SECRET, VAR_SECRET = "s3cr3t-mlflow-password", "s3cr3t-variable"


class _Conn:
    """What Jinja's `conn` would resolve to, if anything were rendered: a connection with a password."""

    def __getattr__(self, name: str) -> Any:
        return SimpleNamespace(password=SECRET, login="admin", host="mlflow")


def _hostile_fields(config: ModelConfig) -> ModelConfig:
    cfg = _hostile_kube_config(config)
    kube = cfg.training.kubernetes
    kube.args = ["--token", STEAL_CONN, STEAL_VAR, "{% raw %}x{% endraw %}", "{{ ds }}"]
    kube.command = ["python", "-c", STEAL_CONN]
    kube.image = f"registry.example/{STEAL_VAR}:1"
    kube.node_selector = {"pool": STEAL_CONN}
    kube.labels = {"team": STEAL_VAR}
    kube.service_account = STEAL_CONN
    kube.mlflow_secret = STEAL_VAR
    kube.image_pull_secrets = [STEAL_CONN]
    kube.resources.gpu = 1
    kube.resources.gpu_type = STEAL_VAR
    return cfg


def test_config_values_reach_the_pod_verbatim_never_rendered(
    example_config: ModelConfig, example_config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from driftline.factory.dags import build_pipeline_dag
    from kubernetes.client import ApiClient

    monkeypatch.setattr(KubernetesHook, "is_in_cluster", False)
    dag = build_pipeline_dag(_hostile_fields(example_config), example_config_path)
    task = dag.get_task("train")
    assert isinstance(task, TrainPodOperator)
    assert task.template_fields == ("snapshot",)  # the rendered-template view shows nothing of the config
    context = _context(task) | {"conn": _Conn(), "var": {"value": {"x": VAR_SECRET}}, "ds": "2026-01-02"}
    task.render_template_fields(context)  # Airflow's own rendering, with conn/var a template could read
    pod = task.build_pod_request_obj(context)  # the real pod request (per API-NOTES)
    manifest = ApiClient().sanitize_for_serialization(pod)
    text = json.dumps(manifest)
    assert SECRET not in text
    assert VAR_SECRET not in text
    base = _container(manifest)
    assert base["args"][:5] == ["--token", STEAL_CONN, STEAL_VAR, "{% raw %}x{% endraw %}", "{{ ds }}"]
    assert base["command"] == ["python", "-c", STEAL_CONN]
    assert base["image"] == f"registry.example/{STEAL_VAR}:1"
    spec = manifest["spec"]
    assert spec["nodeSelector"] == {"pool": STEAL_CONN, "nvidia.com/gpu.product": STEAL_VAR}
    assert manifest["metadata"]["labels"]["team"] == STEAL_VAR
    assert spec["serviceAccountName"] == STEAL_CONN
    assert spec["imagePullSecrets"] == [{"name": STEAL_CONN}]
    assert base["envFrom"] == [{"secretRef": {"name": STEAL_VAR}}]
    # Driftline's own values are still filled in for the run (no Jinja needed for them)
    assert manifest["metadata"]["labels"]["driftline/run"] == "scheduled__2026-01-02"
    assert manifest["metadata"]["labels"]["driftline/model"] == "churn"


def test_default_args_get_the_run_identity_without_jinja(
    train_task: TrainPodOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = _context(train_task)
    train_task.render_template_fields(context)
    args = train_task.arguments
    assert not any("{{" in a or "<airflow" in a for a in args)
    assert _arg(args, "--run-id") == "scheduled__2026-01-02" and _arg(args, "--try-number") == "2"


def test_driftline_validate_accepts_template_text_as_a_literal(
    example_config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml
    from driftline.cli import main

    raw = yaml.safe_load(example_config_path.read_text())
    kube = raw.setdefault("training", {}).setdefault("kubernetes", {})
    kube.update(
        args=[STEAL_CONN, STEAL_VAR],
        command=["python", STEAL_CONN],
        image=f"registry.example/{STEAL_VAR}:1",
        node_selector={"pool": STEAL_CONN},
        labels={"team": STEAL_VAR},
    )
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 0
    assert "1 valid, 0 invalid" in capsys.readouterr().out
