"""The train step's operators: local training in the worker, Kubernetes training as a KPO subclass."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError, TrainingError
from driftline.operators.train import TrainModelOperator, build_training_task, snapshot_uri_of
from driftline.training.errors import TrainingInputError

REPO_ROOT = Path(__file__).resolve().parents[3]
S3_SNAPSHOT = {"uri": "s3://lake/driftline/churn/manual__1/training.parquet", "rows": 10, "sha256": "ab"}


def _context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="driftline__churn", run_id="manual__1", task_id="train", try_number=try_number, map_index=-1
    )
    return {"ti": ti, "run_id": "manual__1"}


def _kube_config(config: ModelConfig) -> ModelConfig:
    cfg = config.model_copy(deep=True)
    cfg.training.backend = "kubernetes"
    cfg.training.kubernetes.resources.gpu = 2
    return cfg


def test_build_training_task_picks_the_backend(example_config: ModelConfig) -> None:
    local = build_training_task(example_config, "/tmp/x.parquet")
    assert isinstance(local, TrainModelOperator) and local.task_id == "train"
    assert local.template_fields == ("snapshot",)
    from driftline.operators.train_pod import TrainPodOperator

    kube = build_training_task(_kube_config(example_config), S3_SNAPSHOT, task_id="fit")
    # config values reach the pod as literals: the snapshot is the pod operator's only template field
    assert isinstance(kube, TrainPodOperator) and tuple(kube.template_fields) == ("snapshot",)
    assert (kube.pool, kube.pool_slots) == ("gpu", 2)
    assert kube.execution_timeout == dt.timedelta(minutes=240)


def test_snapshot_uri_of_accepts_refs_and_uris() -> None:
    assert snapshot_uri_of(S3_SNAPSHOT) == S3_SNAPSHOT["uri"]
    assert snapshot_uri_of("s3://b/k.parquet") == "s3://b/k.parquet"
    with pytest.raises(TrainingInputError, match="expected the validated snapshot"):
        snapshot_uri_of(None)


def test_kubernetes_backend_refuses_a_worker_local_snapshot(example_config: ModelConfig) -> None:
    op = build_training_task(
        _kube_config(example_config), {"uri": "/data/snapshots/churn/r/training.parquet"}
    )
    with pytest.raises(TrainingInputError) as exc:
        op.execute(_context())
    assert isinstance(exc.value, PermanentError)
    assert "a pod cannot read" in str(exc.value) and "data.snapshot_root" in str(exc.value)


def test_kubernetes_task_is_the_pod_operator_for_execute_and_deferred_reentry(
    example_config: ModelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Kubernetes API is the one thing that cannot run here: the provider's execute is replaced."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    result = {"run_id": "abc", "metrics": {"roc_auc": 0.8}}
    seen: list[tuple[str, Any]] = []

    def fake_execute(self: Any, context: Any) -> Any:
        seen.append(("execute", self.arguments))
        return result

    def fake_reentry(self: Any, context: Any, event: dict[str, Any]) -> Any:
        seen.append(("trigger_reentry", event))
        return result if event["status"] == "success" else None

    monkeypatch.setattr(KubernetesPodOperator, "execute", fake_execute)
    monkeypatch.setattr(KubernetesPodOperator, "trigger_reentry", fake_reentry)
    cfg = _kube_config(example_config)
    cfg.training.kubernetes.deferrable = True
    op = build_training_task(cfg, S3_SNAPSHOT)
    op.render_template_fields(_context())
    assert op.execute(_context()) == result
    event = {"status": "success", "name": "train-churn-x", "namespace": "ml-training"}
    assert op.trigger_reentry(_context(), event) == result
    assert [name for name, _ in seen] == ["execute", "trigger_reentry"]
    assert S3_SNAPSHOT["uri"] in seen[0][1]  # the rendered args reached the provider's execute
    with pytest.raises(TrainingError, match="without a TrainResult"):
        op.trigger_reentry(_context(), {**event, "status": "gone"})


@pytest.mark.slow
def test_local_operator_trains_in_process(
    example_config: ModelConfig, driftline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd
    from driftline.data.snapshots import mark, write_snapshot
    from threadpoolctl import threadpool_limits

    rng = pd.Series(range(600))
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng * 864, unit="s")  # 6 days
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in rng],
            "event_time": ts,
            "tenure_months": rng % 50,
            "monthly_charges": (rng % 7) * 10.0,
            "support_calls": rng % 5,
            "usage_minutes": (rng % 13) * 30.0,
            "plan": ["basic", "standard", "premium"] * 200,
            "autopay": (rng % 2 == 0).tolist(),
            "churned": ((rng % 5 == 0) | (rng % 7 == 0)).astype(int),
        }
    )
    ref = mark(write_snapshot(df, str(driftline_home / "snap" / "training.parquet")), "validated")
    db = driftline_home / "mlflow" / "mlflow.db"  # where the fixture's mlflow_default connection points
    example_config.training.estimator.params = {"max_iter": 10}
    example_config.training.min_validation_rows = 100  # six small days: hold out the last two (200 rows)
    op = build_training_task(example_config, ref.to_dict())
    with threadpool_limits(limits=1):  # OpenMP threads thrash on a small shared machine
        out = op.execute(_context())
    assert (
        out["snapshot_uri"] == ref.uri
        and out["snapshot_sha256"] == ref.sha256
        and "roc_auc" in out["metrics"]
    )
    json.dumps(out)  # XCom-serializable
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(tracking_uri=f"sqlite:///{db}").get_run(out["run_id"]).data.tags
    assert tags["airflow.dag_id"] == "driftline__churn" and tags["airflow.task_id"] == "train"


def _heavy_after_parse(backend: str) -> list[str]:
    code = textwrap.dedent(
        f"""
        import sys, datetime as dt
        from airflow.sdk import DAG, task
        from driftline.config import load_config
        from driftline.operators.train import build_training_task
        cfg = load_config("dags/configs/churn.yaml")
        cfg.training.backend = "{backend}"
        with DAG("t", schedule=None, start_date=dt.datetime(2026, 1, 1)):
            @task
            def validate():
                return {{"uri": "s3://b/k.parquet"}}
            build_training_task(cfg, validate(), task_id="train")
        heavy = ("kubernetes", "mlflow", "sklearn", "pandas", "numpy")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


@pytest.mark.slow
def test_dag_parse_imports_nothing_heavy_for_the_local_backend() -> None:
    assert _heavy_after_parse("local") == []


@pytest.mark.slow
def test_only_a_kubernetes_config_imports_the_pod_operator_and_its_client() -> None:
    # The provider's KubernetesPodOperator module imports the kubernetes client at module level:
    # a config with backend kubernetes pays it at parse time (measured in the README), no other does.
    assert _heavy_after_parse("kubernetes") == ["kubernetes"]
