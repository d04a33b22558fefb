"""compute.engine: spark under Airflow: each data step is a Spark application submitted with the
Spark provider's SparkSubmitHook (apache-airflow-providers-apache-spark).

`SubmittedSparkEngine` has the Engine interface (`driftline.engines.base`): each step writes its
arguments to a run-scoped exchange folder, submits `driftline/engines/spark_job.py` with
`spark-submit` (master from the Airflow Spark connection `compute.spark.conn_id`, or
`compute.spark.master` when no connection is named; `compute.spark.conf` as `--conf`), waits,
and returns the job's result or raises its error: the operators and their XComs are the other
engines'. `score_items` (the scorer `driftline.inference.batch` picks for this engine) submits the
scoring job and streams the items it exported to the writer.

The driver runs where spark-submit runs (deploy mode client, the Airflow worker): a connection
with deploy-mode cluster is refused, since the exchange folder would not be the driver's.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config.models import ComputeSection, ModelConfig
from driftline.engines import EngineUnavailableError

if TYPE_CHECKING:
    from driftline.data.snapshots import SnapshotRef
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.inference.arms import ArmPlan
    from driftline.inference.items import Item, RunStamp
    from driftline.inference.scoring import ScoringInput
    from driftline.validation.report import ValidationReport

log = logging.getLogger(__name__)


#: The application spark-submit runs (a script: not imported here, it edits its own sys.path).
JOB = Path(__file__).with_name("spark_job.py")


class SparkJobError(RuntimeError):
    """spark-submit failed before the job could report (the JVM, the cluster, the connection)."""


def exchange_root() -> Path:
    from driftline.settings import driftline_home

    root = driftline_home() / "spark_jobs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def submit_hook(compute: ComputeSection, model: str, step: str, args: list[str]) -> Any:
    """The provider's SparkSubmitHook for one step (master: the connection's, or compute.spark.master)."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    settings = compute.spark
    where = f"dags/configs/{model}.yaml" if model else "the model config"

    class DriftlineSparkSubmitHook(SparkSubmitHook):
        def _resolve_connection(self) -> dict[str, Any]:
            if settings.conn_id is None:
                return {
                    "master": settings.master,
                    "queue": None,
                    "deploy_mode": None,
                    "spark_binary": "spark-submit",
                    "namespace": None,
                    "principal": None,
                    "keytab": None,
                    "rest_scheme": "http",
                    "rest_port": 6066,
                    "rest_endpoint": None,
                }
            try:
                self.get_connection(settings.conn_id)  # the provider would fall back to yarn
            except Exception as exc:
                raise EngineUnavailableError(
                    where, [f"compute.spark.conn_id {settings.conn_id!r}: no such Airflow connection ({exc})"]
                ) from exc
            data: dict[str, Any] = super()._resolve_connection()
            if data.get("deploy_mode") == "cluster":
                raise EngineUnavailableError(
                    where,
                    [
                        f"compute.spark.conn_id {settings.conn_id!r}: deploy-mode cluster is not supported "
                        "(the driver must run where the step is submitted); use client"
                    ],
                )
            return data

    venv_bin = str(Path(sys.executable).parent)  # spark-submit ships with pyspark, beside this python
    import os

    return DriftlineSparkSubmitHook(
        conf={**settings.conf, "spark.ui.enabled": "false", "spark.pyspark.python": sys.executable},
        conn_id=settings.conn_id or "spark_default",
        name=f"driftline-{model}-{step}",
        application_args=args,
        env_vars={
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYSPARK_PYTHON": sys.executable,
        },
    )


def submit(
    compute: ComputeSection, model: str, step: str, args: list[Any], kwargs: dict[str, Any]
) -> tuple[Any, Path]:
    """Run one step as a Spark application; returns its value (raises its error) and the exchange folder."""
    folder = exchange_root() / f"{model or 'model'}-{step}-{uuid.uuid4().hex}"
    folder.mkdir()
    access = kwargs.pop("access", None) is not None
    request = {
        "step": step,
        "model": model,
        "compute": compute,
        "args": args,
        "kwargs": kwargs,
        "access": access,
    }
    (folder / "request.pickle").write_bytes(pickle.dumps(request))
    result = folder / "result.pickle"
    log.info("Submitting the %s step of %s to Spark (spark-submit %s)", step, model, JOB.name)
    try:
        hook = submit_hook(compute, model, step, [str(folder / "request.pickle"), str(result)])
        hook.submit(str(JOB))
    except EngineUnavailableError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as exc:
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            raise SparkJobError(f"the Spark application for {model}'s {step} step failed: {exc}") from exc
    if not result.exists():
        shutil.rmtree(folder, ignore_errors=True)
        raise SparkJobError(f"the Spark application for {model}'s {step} step ended without a result")
    status, value = pickle.loads(result.read_bytes())  # noqa: S301 -- our own job's result
    if status == "error":
        shutil.rmtree(folder, ignore_errors=True)
        raise value
    return value, folder


class SubmittedSparkEngine:
    """compute.engine: spark with compute.spark.submit (the default): each step a submitted application."""

    name = "spark"

    def __init__(self, compute: ComputeSection, model: str = "") -> None:
        self.compute = compute
        self.model = model

    def _step(self, step: str, *args: Any, **kwargs: Any) -> Any:
        value, folder = submit(self.compute, self.model, step, list(args), kwargs)
        shutil.rmtree(folder, ignore_errors=True)
        return value

    def load_window(self, *args: Any, **kwargs: Any) -> tuple[SnapshotRef, dict[str, Any]]:
        result: tuple[SnapshotRef, dict[str, Any]] = self._step("load_window", *args, **kwargs)
        return result

    def validate(self, snapshot: SnapshotRef, config: ModelConfig) -> ValidationReport:
        result: ValidationReport = self._step("validate", snapshot, config)
        return result

    def data_drift(
        self, reference: SnapshotRef, current: SnapshotRef | list[SnapshotRef], settings: DriftSettings
    ) -> DataDriftResult:
        result: DataDriftResult = self._step("data_drift", reference, current, settings)
        return result


def score_items(
    model: Any,
    source: ScoringInput,
    config: ModelConfig,
    stamp: RunStamp,
    stats: dict[str, int] | None = None,
    experiment: tuple[ArmPlan, Any] | None = None,
) -> Iterator[Item]:
    """The spark scorer as a submitted application: the job scores per partition and exports the
    items; they stream from the export to the writer, one at a time."""
    counts, folder = submit(
        config.compute, config.model.name, "score", [model, source, config, stamp], {"experiment": experiment}
    )
    try:
        with open(folder / "result.pickle.items", "rb") as items:
            while True:
                try:
                    yield pickle.load(items)  # noqa: S301 -- our own job's export
                except EOFError:
                    break
        if stats is not None:
            for key, n in counts.items():
                stats[key] = stats.get(key, 0) + n
    finally:
        shutil.rmtree(folder, ignore_errors=True)
