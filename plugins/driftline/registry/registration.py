"""Register a training run's model as a new version, tagged with its lineage, and make it the challenger.

Idempotent: under the model's registry lock, an existing version whose tags carry the same
`airflow.dag_id` + `airflow.run_id`, or the same training run id, is returned instead of
registering a second one (an Airflow retry of the register task never creates a duplicate).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from driftline.exceptions import error_code
from driftline.payloads import RegistrationPayload
from driftline.registry.champion import (
    CHALLENGER,
    CHAMPION,
    TAG_DAG_ID,
    TAG_METRIC_NAME,
    TAG_REGISTERED_AT,
    TAG_RUN_ID,
    TAG_SNAPSHOT_SHA256,
    TAG_SNAPSHOT_URI,
    TAG_TRAINED_UNTIL,
    TAG_TRAINING_RUN_ID,
    aliases_of,
    metric_tag,
)
from driftline.registry.errors import RegistryInputError
from driftline.registry.promotion import (
    commit_aliases,
    op_id_for,
    open_lock,
    repair_locked,
    require_model,
)
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from driftline.config.models import ModelConfig
    from driftline.mlflow_store import MlflowAccess

MODEL_ARTIFACT_PATH = "model"
READY_TIMEOUT_S = 120.0


def ensure_registered_model(hook: MlflowAccess, name: str, policy: RetryPolicy | None = None) -> None:
    """Create registered model `name` unless it exists."""
    try:
        call(policy, f"create registered model {name!r}", hook.client.create_registered_model, name)
    except Exception as exc:
        if error_code(exc) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def _get_run(hook: MlflowAccess, run_id: str, policy: RetryPolicy | None) -> Any:
    try:
        return call(policy, f"read training run {run_id}", hook.client.get_run, run_id)
    except Exception as exc:
        if error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RegistryInputError(
                f"training run {run_id!r} does not exist in MLflow at {hook.tracking_uri}"
            ) from exc
        raise


def model_source(hook: MlflowAccess, run: Any, policy: RetryPolicy | None = None) -> tuple[str, str | None]:
    """(source URI, logged model id) of the model the run logged under the name "model".

    MLflow 3 logs a LoggedModel; its `models:/<model_id>` is the source (a registered version whose
    source is the run's `mlflow-artifacts:` folder does not load through `models:/name/version` from
    an artifact-proxying server in MLflow 3.17). Runs without a LoggedModel (MLflow 2 style) fall
    back to the run's artifact folder.
    """
    client = hook.client
    run_id = run.info.run_id
    logged = str(dict(run.data.tags or {}).get("driftline.model_uri") or "")
    if logged.startswith("models:/m-"):  # the LoggedModel driftline.training tags its run with
        return logged, logged.removeprefix("models:/")
    found: list[Any] = []
    token = None
    while True:
        page = call(
            policy,
            f"search logged models of run {run_id}",
            client.search_logged_models,
            experiment_ids=[run.info.experiment_id],
            filter_string=f"name = '{MODEL_ARTIFACT_PATH}'",
            page_token=token,
        )
        found.extend(m for m in page if m.source_run_id == run_id)
        token = page.token
        if not token:
            break
    if found:
        latest = max(found, key=lambda m: m.creation_timestamp or 0)
        return f"models:/{latest.model_id}", latest.model_id
    artifacts = call(
        policy, f"list artifacts of run {run_id}", client.list_artifacts, run_id, MODEL_ARTIFACT_PATH
    )
    if any(a.path.rsplit("/", 1)[-1] == "MLmodel" for a in artifacts):
        return f"runs:/{run_id}/{MODEL_ARTIFACT_PATH}", None
    raise RegistryInputError(
        f"training run {run_id} has no model logged under {MODEL_ARTIFACT_PATH!r} "
        "(expected mlflow.sklearn.log_model(..., name='model'))"
    )


def version_tags(
    run: Any, training: dict[str, Any], metric_name: str, dag_id: str | None, run_id: str | None
) -> dict[str, str]:
    """The contract tags (driftline.registry.champion) for a version trained by `run`: the few a person reads.

    The training run holds the rest (all metrics, params, `lineage.json`, the validation result).
    """
    run_tags = dict(run.data.tags or {})
    tags = {
        TAG_TRAINING_RUN_ID: run.info.run_id,
        TAG_SNAPSHOT_URI: str(run_tags.get(TAG_SNAPSHOT_URI) or training.get("snapshot_uri") or ""),
        TAG_SNAPSHOT_SHA256: str(run_tags.get(TAG_SNAPSHOT_SHA256) or training.get("snapshot_sha256") or ""),
        TAG_TRAINED_UNTIL: str(run_tags.get(TAG_TRAINED_UNTIL) or training.get("trained_until") or ""),
        TAG_METRIC_NAME: run_tags.get(TAG_METRIC_NAME) or metric_name,
        TAG_DAG_ID: str(dag_id or run_tags.get(TAG_DAG_ID) or ""),
        TAG_RUN_ID: str(run_id or run_tags.get(TAG_RUN_ID) or ""),
        TAG_REGISTERED_AT: dt.datetime.now(dt.UTC).isoformat(),
    }
    # Only the metric the gate and concept drift read: every other metric is on the training run.
    value = dict(run.data.metrics or {}).get(tags[TAG_METRIC_NAME])
    if value is not None:
        tags[metric_tag(tags[TAG_METRIC_NAME])] = repr(float(value))
    return tags


def find_existing(
    hook: MlflowAccess,
    name: str,
    training_run_id: str,
    dag_id: str | None,
    run_id: str | None,
    policy: RetryPolicy | None,
) -> Any | None:
    """A version of `name` registered by the same Airflow run or from the same training run."""
    versions = call(
        policy,
        f"search versions of {name!r}",
        hook.client.search_model_versions,
        filter_string=f"name = '{name}'",
    )
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = dict(mv.tags or {})
        same_airflow_run = (
            bool(dag_id and run_id) and tags.get(TAG_DAG_ID) == dag_id and tags.get(TAG_RUN_ID) == run_id
        )
        same_training = tags.get(TAG_TRAINING_RUN_ID) == training_run_id or mv.run_id == training_run_id
        if same_airflow_run or same_training:
            return mv
    return None


def _await_ready(hook: MlflowAccess, name: str, version: str, policy: RetryPolicy | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        mv = call(policy, f"read version {version} of {name!r}", hook.client.get_model_version, name, version)
        status = str(mv.status)
        if status.endswith("READY"):
            return
        if status.endswith("FAILED_REGISTRATION"):
            raise RegistryInputError(
                f"version {version} of {name!r} failed registration: {mv.status_message}"
            )
        if time.monotonic() > deadline:
            from driftline.exceptions import RegistryError

            raise RegistryError(
                f"version {version} of {name!r} not READY after {READY_TIMEOUT_S:.0f}s ({status})"
            )
        time.sleep(0.5)


def stored_source(hook: MlflowAccess, source: str, model_id: str | None) -> str:
    """The source to register: on a local (SQL) store, a LoggedModel's `models:/m-...` read through
    `hook`'s own client as its artifact location.

    MLflow's SQL registry resolves a `models:/m-...` source with a *default* MlflowClient, i.e. the
    process-wide tracking URI (its own TODO in SqlAlchemyStore.create_model_version), so a worker
    whose default store is not the connection's failed with "Logged model ... not found". A server
    resolves it on its own side: there the `models:/` source stays (see model_source)."""
    from driftline.mlflow_store import LOCAL_SCHEMES

    if (
        model_id is None
        or not source.startswith("models:/")
        or not hook.tracking_uri.startswith(LOCAL_SCHEMES)
    ):
        return source
    return str(hook.client.get_logged_model(model_id).artifact_location)


def register_training_run(
    hook: MlflowAccess,
    config: ModelConfig,
    training: dict[str, Any],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
) -> RegistrationPayload:
    """Register `training["run_id"]`'s model under config.registered_model_name and alias it `challenger`.

    Returns {"name", "version", "run_id"}. A version already registered by the same Airflow run
    (dag_id + run_id) or from the same training run is returned instead of a new one; it gets the
    `challenger` alias unless it is already the champion.
    """
    name = config.registered_model_name
    training_run_id = str((training or {}).get("run_id") or "")
    if not training_run_id:
        raise RegistryInputError(
            f"model {name!r}: the training result has no 'run_id' (got keys {sorted(training or {})})"
        )
    actor = actor or (f"airflow:{dag_id}/{run_id}" if dag_id else "driftline")
    run = _get_run(hook, training_run_id, policy)
    ensure_registered_model(hook, name, policy)
    with open_lock(hook, name, actor, policy, lock_ttl, lock_wait) as lock:
        repair_locked(hook, name, require_model(hook, name, policy), lock, policy)
        existing = find_existing(hook, name, training_run_id, dag_id, run_id, policy)
        if existing is None:
            source, model_id = model_source(hook, run, policy)
            tags = version_tags(run, training, config.registry.metric, dag_id, run_id)

            def create_once() -> Any:
                # A retry after a lost answer must not register twice: look again first.
                again = find_existing(hook, name, training_run_id, dag_id, run_id, RetryPolicy(attempts=1))
                if again is not None:
                    return again
                lock.fence()
                return hook.client.create_model_version(
                    name,
                    stored_source(hook, source, model_id),
                    run_id=training_run_id,
                    tags=tags,
                    await_creation_for=0,
                    model_id=model_id,
                )

            version = str(call(policy, f"create a version of {name!r}", create_once).version)
            _await_ready(hook, name, version, policy)
        else:
            version = str(existing.version)
        aliases = aliases_of(require_model(hook, name, policy))
        if aliases.get(CHAMPION) != int(version):
            commit_aliases(
                hook,
                name,
                lock,
                {CHALLENGER: int(version)},
                actor=actor,
                reason=f"registered from training run {training_run_id}",
                action="register",
                details={"training_run_id": training_run_id},
                policy=policy,
                op_id=op_id_for("register", f"{dag_id}/{run_id}" if dag_id and run_id else None),
            )
    return RegistrationPayload(name=name, version=int(version), run_id=training_run_id)
