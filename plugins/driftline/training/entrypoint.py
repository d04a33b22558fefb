"""The training entrypoint: the same code in a Kubernetes pod and on a local Airflow worker.

    python -m driftline.training --config dags/configs/churn.yaml --snapshot <uri> \
        --dag-id driftline__churn --run-id manual__1 --task-id train --try-number 1 \
        --xcom-path /airflow/xcom/return.json

Steps: check the metric and the estimator (before reading data); reuse a FINISHED MLflow run of
the same Airflow (dag_id, run_id, task_id) on the same snapshot bytes; read the *validated*
snapshot; split it by time; fit; evaluate; log params, metrics, tags and the model to the MLflow
experiment `driftline/<model>`. A failing try marks its MLflow run FAILED before re-raising.
The result is a JSON object (TrainResult) printed as the last stdout line and, in a pod, written
to the KubernetesPodOperator's XCom file.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import signal
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.config.models import ModelConfig
from driftline.exceptions import PermanentError
from driftline.mlflow_store import MlflowStore
from driftline.payloads import TrainingPayload
from driftline.training import estimators, metrics, split, tracking
from driftline.training.errors import TrainingInputError

log = logging.getLogger("driftline.training")

CLASSIFICATION = ("binary_classification", "multiclass_classification")
MODEL_ARTIFACT = "model"
EXPERIMENT_PREFIX = "driftline/"


@dataclass
class TrainResult:
    """What the train task returns (its XCom): the MLflow run and its validation metrics."""

    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    snapshot_uri: str
    snapshot_sha256: str
    trained_until: str
    model_uri: str
    metric_name: str
    reused: bool = False
    params: dict[str, str] = field(default_factory=dict, repr=False)

    def to_dict(self) -> TrainingPayload:
        return TrainingPayload(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            metrics=dict(self.metrics),
            snapshot_uri=self.snapshot_uri,
            snapshot_sha256=self.snapshot_sha256,
            trained_until=self.trained_until,
            model_uri=self.model_uri,
            metric_name=self.metric_name,
            reused=self.reused,
        )


def experiment_name(config: ModelConfig) -> str:
    return f"{EXPERIMENT_PREFIX}{config.model.name}"


def _window_end(facts: dict[str, Any]) -> Any:
    for key in ("window_end", "end"):
        if facts.get(key):
            return facts[key]
    window = facts.get("window")
    if isinstance(window, dict):
        return window.get("end") or window.get("window_end")
    return None


def trained_until(facts: dict[str, Any], df: pd.DataFrame, timestamp_col: str) -> str:
    """ISO timestamp of the data's end: the snapshot's window end, else its newest timestamp."""
    end = _window_end(facts)
    if end:
        return str(pd.Timestamp(end).isoformat())
    return str(split.as_utc(df[timestamp_col]).max().isoformat())


def window_params(facts: dict[str, Any]) -> dict[str, str]:
    """Window facts of the snapshot as MLflow params (flat `window_*` keys)."""
    out: dict[str, str] = {}
    raw = facts.get("window")
    window: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for key in ("start", "end", "kind", "days"):
        value = facts.get(f"window_{key}", window.get(key))
        if value is not None:
            out[f"window_{key}"] = str(value)
    if "partitions" in facts:
        parts = facts["partitions"]
        out["window_partitions"] = str(len(parts)) if isinstance(parts, list | tuple) else str(parts)
    return out


def check_frame(config: ModelConfig, df: pd.DataFrame, snapshot_uri: str) -> None:
    """The snapshot has every column the model needs."""
    needed = [config.data.timestamp, *config.feature_names, config.data.label]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise TrainingInputError(
            f"snapshot {snapshot_uri} lacks columns {missing} "
            "named in data.features/data.label/data.timestamp"
        )
    if df.empty:
        raise TrainingInputError(f"snapshot {snapshot_uri} has no rows")


def check_labels(config: ModelConfig, y_train: pd.Series, y_valid: pd.Series) -> None:
    """Classification needs at least two classes on both sides of the split, and no missing labels."""
    label = config.data.label
    for side, y in (("training", y_train), ("validation", y_valid)):
        if y.isna().any():
            raise TrainingInputError(
                f"label column data.label={label!r} has {int(y.isna().sum())} missing values "
                f"in the {side} part"
            )
    if config.training.task not in CLASSIFICATION:
        return
    for side, y in (("training", y_train), ("validation", y_valid)):
        classes = sorted(map(str, pd.unique(y)))
        if len(classes) < 2:
            raise TrainingInputError(
                f"label column data.label={label!r} has only one class {classes} in the {side} part "
                f"(training.task={config.training.task}): a classifier needs at least two"
            )
    if config.training.task == "binary_classification":
        classes = sorted(map(str, pd.unique(pd.concat([y_train, y_valid]))))
        if len(classes) != 2:
            raise TrainingInputError(
                f"label column data.label={label!r} has {len(classes)} classes {classes[:10]}: "
                "training.task=binary_classification needs exactly two (use multiclass_classification)"
            )


def metric_standard_error(
    config: ModelConfig, model: Any, X: pd.DataFrame, y: pd.Series, positive: Any
) -> float | None:
    """Bootstrap standard error of the registry metric on the held-out rows (None if undefined)."""
    from driftline.training.bootstrap import metric_se

    preds = metrics.predictions(model, X, y, config.training.task, positive)
    se = metric_se(config.registry.metric, preds, resamples=500)
    if se is not None:
        log.info("held-out %s standard error (500 bootstrap resamples): %.4g", config.registry.metric, se)
    return se


def _skops_trusted(model: Any) -> list[str] | None:
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - skops ships with mlflow's sklearn flavour here
        return None
    return list(sio.get_untrusted_types(data=sio.dumps(model)))


def log_model(config: ModelConfig, model: Any, X_example: pd.DataFrame) -> str:
    """Log the fitted model with its signature and input example; returns the model URI."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = X_example.head(5)
    signature = infer_signature(example, model.predict(example))
    estimator_cfg = config.training.estimator
    # skops is the safe format and the only one loaded by default (driftline.registry.models); a
    # user callable's model goes to cloudpickle only when the config trusts that format for loading.
    trusted = config.registry.trusted_serialization
    fmt = "cloudpickle" if estimator_cfg.callable and "cloudpickle" in trusted else "skops"
    kwargs: dict[str, Any] = {}
    # skops looks functions up by scanning sys.modules (pickle.whichmodule), which touches Airflow's
    # deprecated-module shims: one FutureWarning per attribute, thousands of log lines. Silence them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if fmt == "skops":
            kwargs["skops_trusted_types"] = _skops_trusted(model)
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=signature,
            input_example=example,
            serialization_format=fmt,
            pip_requirements=tracking.pinned_requirements(estimator_cfg.class_path, fmt),
            **kwargs,
        )
    return str(info.model_uri)


def _result_from_run(run: Any, config: ModelConfig, snapshot_uri: str) -> TrainResult:
    tags = run.data.tags
    metric_names = set(metrics.available_metrics(config.training.task))
    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=str(run.info.experiment_id),
        metrics={k: float(v) for k, v in run.data.metrics.items() if k in metric_names},
        snapshot_uri=tags.get("driftline.snapshot_uri", snapshot_uri),
        snapshot_sha256=tags.get("driftline.snapshot_sha256", ""),
        trained_until=tags.get("driftline.trained_until", ""),
        model_uri=tags.get("driftline.model_uri", f"runs:/{run.info.run_id}/{MODEL_ARTIFACT}"),
        metric_name=tags.get("driftline.metric_name", config.registry.metric),
        reused=True,
        params=dict(run.data.params),
    )


def _params(
    config: ModelConfig, facts: dict[str, Any], n_train: int, n_valid: int, split_at: str
) -> dict[str, str]:
    est = config.training.estimator
    params = {
        "estimator": str(est.class_path or est.callable),
        "task": config.training.task,
        "features": ",".join(config.feature_names),
        "label": config.data.label,
        "validation_days": str(config.training.validation_days),
        "train_rows": str(n_train),
        "valid_rows": str(n_valid),
        "split_at": split_at,
        **window_params(facts),
    }
    for key, value in est.params.items():
        name = key if key not in params else f"estimator.{key}"
        params[name] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return {k: v[:6000] for k, v in params.items()}


def train(
    config: ModelConfig,
    snapshot_uri: str,
    identity: dict[str, str],
    *,
    store: MlflowStore | None = None,
    tracking_uri: str | None = None,
    snapshot_conn_id: str | None = None,
    snapshot_sha256: str | None = None,
) -> TrainResult:
    """Train `config`'s model on a validated snapshot and log it to MLflow (see the module docstring).

    `identity` holds the Airflow dag_id/run_id/task_id/try_number (bare or `airflow.`-prefixed keys);
    with dag_id, run_id and task_id present a retry reuses the FINISHED run of an earlier try.
    MLflow is `store` (the Airflow operator passes its hook's store), else `tracking_uri`, else
    the `MLFLOW_TRACKING_URI` environment variable; none of them is an error, never a default.
    Imports no Airflow: this runs in the training image. `snapshot_sha256` is the hash the caller
    was handed with the snapshot (its XCom): the snapshot read must match it, so training never
    fits on data other than what was validated.
    """
    import os

    import mlflow

    from driftline.data.snapshots import read_manifest, read_snapshot

    metric_name = config.registry.metric
    metrics.check_metric(config.training.task, metric_name)
    estimator = estimators.build_estimator(config.training.estimator)
    ident = tracking.normalize_identity(identity)
    ref = read_manifest(snapshot_uri, snapshot_conn_id)
    if ref.status != "validated":
        from driftline.exceptions import SnapshotError

        raise SnapshotError(
            f"snapshot {snapshot_uri} has status {ref.status!r}; training reads only 'validated' snapshots"
        )
    if snapshot_sha256 and ref.sha256 != snapshot_sha256:
        from driftline.exceptions import SnapshotError

        raise SnapshotError(
            f"snapshot {snapshot_uri} is not the data this step was handed: sha256 {ref.sha256[:12]} "
            f"!= {snapshot_sha256[:12]}"
        )

    if store is None:
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise TrainingInputError(
                "no MLflow tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI "
                "(in a pod: the Secret named by training.kubernetes.mlflow_secret)"
            )
        store = MlflowStore(uri)
    client = store.client
    store.use_for_fluent_api()  # mlflow.start_run / log_model below log to this store
    experiment_id = store.get_or_create_experiment(experiment_name(config))
    keyed = all(k in ident for k in ("airflow.dag_id", "airflow.run_id", "airflow.task_id"))
    if keyed:
        earlier = tracking.runs_for_identity(client, experiment_id, ident)
        done = tracking.find_finished_run(earlier, ref.sha256)
        if done is not None:
            log.info("reusing FINISHED MLflow run %s of an earlier try of %s", done.info.run_id, ident)
            return _result_from_run(done, config, snapshot_uri)
        try_number = ident.get("airflow.try_number")
        killed = tracking.kill_stale_runs(client, earlier, int(try_number) if try_number else None)
        if killed:
            log.warning("marked MLflow runs %s of earlier tries KILLED (left RUNNING)", killed)

    df = read_snapshot(snapshot_uri, require="validated", conn_id=snapshot_conn_id, sha256=ref.sha256)
    check_frame(config, df, snapshot_uri)
    train_df, valid_df = split.time_split(
        df, config.data.timestamp, config.training.validation_days, config.training.min_validation_rows
    )
    label = config.data.label
    check_labels(config, train_df[label], valid_df[label])
    positive = None
    if config.training.task == "binary_classification":
        positive = metrics.resolve_positive_class(
            df[label], config.data.positive_class, label, config.model.name
        )
        log.info(
            "positive class of %r: %r (%s)",
            label,
            positive,
            "data.positive_class" if config.data.positive_class is not None else "0/1 labels: 1 is positive",
        )
    log.info(
        "held out %d row(s) from %s (training.validation_days=%d, training.min_validation_rows=%d); %d to train on",
        len(valid_df),
        split.as_utc(valid_df[config.data.timestamp]).min().floor("D").date().isoformat(),
        config.training.validation_days,
        config.training.min_validation_rows,
        len(train_df),
    )
    X_train = estimators.prepare_features(train_df, config.data.features)
    X_valid = estimators.prepare_features(valid_df, config.data.features)
    y_train, y_valid = train_df[label], valid_df[label]
    until = trained_until(ref.facts, df, config.data.timestamp)
    split_at = split.as_utc(valid_df[config.data.timestamp]).min().floor("D").isoformat()

    est = config.training.estimator
    extra = tracking.distribution_of(est.class_path) if est.class_path else None
    tags = {
        "driftline.model": config.model.name,
        "driftline.registered_model": config.registered_model_name,
        "driftline.snapshot_uri": snapshot_uri,
        "driftline.snapshot_sha256": ref.sha256,
        "driftline.trained_until": until,
        "driftline.metric_name": metric_name,
        "driftline.task": config.training.task,
        "driftline.backend": config.training.backend,
        **tracking.environment_tags((extra,) if extra else ()),
        **ident,
    }
    run_name = f"{config.model.name}-{ident.get('airflow.run_id', 'adhoc')}"[:250]
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    run_id = run.info.run_id
    log.info("MLflow run %s in experiment %s (%s)", run_id, experiment_name(config), store.tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):
            params = _params(config, ref.facts, len(train_df), len(valid_df), split_at)
            # Params before fitting, so a failed run has them too; one request each for params and metrics.
            client.log_batch(run_id, params=tracking.as_params(params))
            model = estimators.fit_model(est, config.data.features, X_train, y_train, estimator=estimator)
            valid_metrics = metrics.evaluate(model, X_valid, y_valid, config.training.task, positive)
            train_metrics = metrics.evaluate(model, X_train, y_train, config.training.task, positive)
            if metric_name not in valid_metrics:
                raise TrainingInputError(
                    f"registry.metric {metric_name!r} could not be computed for this model "
                    f"(computed: {sorted(valid_metrics)}); a probability metric needs predict_proba"
                )
            all_metrics = {
                **valid_metrics,
                **{f"val_{k}": v for k, v in valid_metrics.items()},
                **{f"train_{k}": v for k, v in train_metrics.items()},
            }
            se = metric_standard_error(config, model, X_valid, y_valid, positive)
            if se is not None:  # concept drift's interval needs the registered value's standard error
                all_metrics[f"{metric_name}_se"] = se
                all_metrics["validation_rows"] = float(len(valid_df))
            if positive is not None:
                client.set_tag(run_id, "driftline.positive_class", repr(positive))
            # One request for every metric (MLflow chunks it at its batch limits).
            client.log_batch(run_id, metrics=tracking.as_metrics(all_metrics))
            mlflow.log_dict(
                {"python": sys.version, "packages": tracking.package_versions((extra,) if extra else ())},
                "environment.json",
            )
            model_uri = log_model(config, model, X_valid)
            mlflow.set_tag("driftline.model_uri", model_uri)
            mlflow.log_dict(
                {
                    "snapshot_uri": snapshot_uri,
                    "snapshot_sha256": ref.sha256,
                    "trained_until": until,
                    "split_at": split_at,
                    "window": {k: v for k, v in ref.facts.items() if k != "validation"},
                    "validation": ref.facts.get("validation"),
                    "airflow": ident,
                },
                "lineage.json",
            )
            from driftline.validation.results import result_uri

            tracking.log_store_files(
                client,
                run_id,
                {"validation/training_window.validation.json": result_uri(snapshot_uri)},
                snapshot_conn_id,
            )
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return TrainResult(
        run_id=run_id,
        experiment_id=str(experiment_id),
        metrics=valid_metrics,
        snapshot_uri=snapshot_uri,
        snapshot_sha256=ref.sha256,
        trained_until=until,
        model_uri=model_uri,
        metric_name=metric_name,
    )


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m driftline.training", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", type=Path, help="A model config YAML (shared _defaults.yaml beside it applies)."
    )
    source.add_argument("--config-json", help="The model config as JSON.")
    source.add_argument(
        "--config-b64", help="The model config as base64 JSON (what the Airflow pod operator passes)."
    )
    parser.add_argument("--snapshot", required=True, help="URI of the validated snapshot (.parquet).")
    parser.add_argument(
        "--snapshot-conn-id", default=None, help="Airflow connection for an object-store snapshot."
    )
    parser.add_argument(
        "--snapshot-sha256", default=None, help="The snapshot's expected sha256 (lineage check)."
    )
    parser.add_argument("--dag-id", default=None)
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--task-id", default=None)
    parser.add_argument("--try-number", default=None)
    parser.add_argument("--tracking-uri", default=None, help="Default: the MLFLOW_TRACKING_URI variable.")
    parser.add_argument("--xcom-path", type=Path, default=None, help="Also write the result JSON here.")
    return parser.parse_args(argv)


def load_model_config(args: argparse.Namespace) -> ModelConfig:
    """The config from --config (with its folder's shared defaults) or --config-json."""
    from pydantic import ValidationError

    from driftline.config.loader import format_validation_error, load_config, load_defaults
    from driftline.exceptions import ConfigError

    if args.config is not None:
        return load_config(args.config, load_defaults(args.config.parent))
    source, text = "--config-json", args.config_json
    if args.config_b64 is not None:
        source = "--config-b64"
        try:
            text = base64.b64decode(args.config_b64, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(source, [f"not base64-encoded UTF-8 JSON: {exc}"]) from None
    try:
        return ModelConfig.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc)) from None


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through train(), which marks the MLflow run FAILED


def main(argv: list[str] | None = None) -> int:
    """Run one training; exit 0 on success, 2 on bad input (no retry helps), 1 otherwise."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    args = parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signal handling to the caller
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    import os

    identity = {
        "dag_id": args.dag_id,
        "run_id": args.run_id,
        "task_id": args.task_id,
        "try_number": args.try_number,
    }
    try:
        config = load_model_config(args)
        result = train(
            config,
            args.snapshot,
            {k: v for k, v in identity.items() if v},
            tracking_uri=args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
            snapshot_conn_id=args.snapshot_conn_id,
            snapshot_sha256=args.snapshot_sha256,
        )
    except PermanentError as exc:
        log.error("training input error (a retry will not help): %s", exc)
        return 2
    except Exception:
        log.exception("training failed")
        return 1
    payload = json.dumps(result.to_dict(), sort_keys=True)
    if args.xcom_path is not None:
        args.xcom_path.parent.mkdir(parents=True, exist_ok=True)
        args.xcom_path.write_text(payload)
    print(payload, flush=True)
    return 0
