"""MLflow bookkeeping for training: idempotent run lookup, stale-run cleanup, environment facts."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from typing import Any

from mlflow.entities import Metric, Param, Run
from mlflow.tracking import MlflowClient

IDENTITY_KEYS = ("dag_id", "run_id", "task_id", "try_number")
ENV_PACKAGES = ("scikit-learn", "pandas", "numpy", "mlflow", "scipy", "pyarrow")


def normalize_identity(identity: dict[str, Any] | None) -> dict[str, str]:
    """`{"airflow.dag_id": ...}` tags from either bare (`dag_id`) or tag-style keys; empty values dropped."""
    tags: dict[str, str] = {}
    for key, value in (identity or {}).items():
        bare = key.removeprefix("airflow.")
        if bare not in IDENTITY_KEYS:
            raise ValueError(f"unknown identity key {key!r}: expected {list(IDENTITY_KEYS)}")
        if value not in (None, ""):
            tags[f"airflow.{bare}"] = str(value)
    return tags


def as_metrics(values: dict[str, float], step: int = 0) -> list[Metric]:
    """MLflow Metric entities for one `log_batch` call, all with the same timestamp."""
    now = int(time.time() * 1000)
    return [Metric(key, float(value), now, step) for key, value in values.items()]


def as_params(values: dict[str, str]) -> list[Param]:
    """MLflow Param entities for one `log_batch` call."""
    return [Param(key, str(value)) for key, value in values.items()]


def _quoted(value: str) -> str | None:
    return None if "'" in value else f"'{value}'"


def runs_for_identity(client: MlflowClient, experiment_id: str, identity: dict[str, str]) -> list[Run]:
    """The runs of this experiment tagged with the same Airflow dag_id, run_id and task_id."""
    filters = []
    for key in ("airflow.dag_id", "airflow.task_id", "airflow.run_id"):
        quoted = _quoted(identity[key])
        if quoted is not None:
            filters.append(f"tags.`{key}` = {quoted}")
    runs = client.search_runs([experiment_id], filter_string=" and ".join(filters), max_results=1000)
    return [
        run
        for run in runs
        if all(
            run.data.tags.get(k) == identity[k]
            for k in ("airflow.dag_id", "airflow.task_id", "airflow.run_id")
        )
    ]


def find_finished_run(runs: list[Run], snapshot_sha256: str) -> Run | None:
    """The newest FINISHED run that trained on the same snapshot bytes, if any."""
    done = [
        r
        for r in runs
        if r.info.status == "FINISHED" and r.data.tags.get("driftline.snapshot_sha256") == snapshot_sha256
    ]
    return max(done, key=lambda r: r.info.start_time or 0) if done else None


def kill_stale_runs(client: MlflowClient, runs: list[Run], try_number: int | None) -> list[str]:
    """Mark runs an earlier try left RUNNING (its process was killed hard) as KILLED; returns their ids."""
    killed = []
    for run in runs:
        if run.info.status not in ("RUNNING", "SCHEDULED"):
            continue
        earlier = run.data.tags.get("airflow.try_number")
        if (
            try_number is not None
            and earlier is not None
            and earlier.isdigit()
            and int(earlier) >= try_number
        ):
            continue  # this try's own run, or a later one
        client.set_terminated(run.info.run_id, "KILLED")
        killed.append(run.info.run_id)
    return killed


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages a trained model depends on."""
    versions = {}
    for name in (*ENV_PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment_tags(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Tags describing where the model was trained: Python and package versions."""
    tags = {"driftline.env.python": platform.python_version()}
    tags.update({f"driftline.env.{name}": version for name, version in package_versions(extra).items()})
    return tags


def distribution_of(module_name: str) -> str | None:
    """The installed distribution providing top-level module `module_name` (sklearn -> scikit-learn)."""
    top = module_name.split(".")[0]
    names = metadata.packages_distributions().get(top) or []
    return names[0] if names else None


def pinned_requirements(class_path: str | None, serialization_format: str) -> list[str] | None:
    """Exact pins for a model built from an installed estimator class; None lets MLflow infer them.

    Inferring requirements starts a subprocess that imports the model (seconds); pins from the
    running environment are exact and free.
    """
    if class_path is None:
        return None
    extra = distribution_of(class_path)
    names = (extra,) if extra else ()
    if serialization_format == "skops":
        names = (*names, "skops")
    elif serialization_format == "cloudpickle":
        names = (*names, "cloudpickle")
    versions = package_versions(names)
    versions.pop("pyarrow", None)
    return [f"{name}=={version}" for name, version in sorted(versions.items())]


def log_store_files(
    client: MlflowClient, run_id: str, files: dict[str, str | None], conn_id: str | None = None
) -> list[str]:
    """Copy snapshot-store files (local or object store) into a run's artifacts; returns what was logged.

    `files` maps an artifact path in the run (`drift/drift_report.html`) to the file's store URI;
    a None URI is skipped (nothing was produced). A URI that names no file is reported in the
    log and skipped: the artifact copy never fails the step that owns the decision.
    """
    import logging
    import tempfile
    from pathlib import PurePosixPath

    from driftline.data.snapshots import read_bytes
    from driftline.exceptions import SnapshotError

    logged = []
    with tempfile.TemporaryDirectory(prefix="driftline-artifacts-") as tmp:
        for artifact, uri in files.items():
            if not uri:
                continue
            try:
                data = read_bytes(uri, conn_id)
            except SnapshotError as exc:
                logging.getLogger(__name__).warning("not logged to MLflow run %s: %s", run_id, exc)
                continue
            target = PurePosixPath(artifact)
            local = os.path.join(tmp, target.name)
            with open(local, "wb") as handle:
                handle.write(data)
            client.log_artifact(run_id, local, str(target.parent) if str(target.parent) != "." else None)
            logged.append(artifact)
    return logged
