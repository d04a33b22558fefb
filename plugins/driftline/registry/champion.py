"""The registry contract: model-version tags, aliases, and who the champion is.

Tags on every registered version (written by driftline.registry.registration):
  driftline.training_run_id   the MLflow run that trained it
  driftline.snapshot_uri      the validated training snapshot (the drift reference data)
  driftline.snapshot_sha256   its sha256
  driftline.trained_until     ISO timestamp of the last training row
  driftline.metric_name       the registry metric (config registry.metric)
  driftline.metric.<name>     every metric of the training run
  airflow.dag_id, airflow.run_id   the Airflow run that registered it (the idempotency key)
  driftline.registered_at     ISO timestamp of the registration
  driftline.promoted_at       ISO timestamp of its latest promotion to champion (set by promotion)
Aliases: `champion` (in production), `challenger` (newest registered candidate),
`previous-champion` (the champion before the current one: the default rollback target).

On MLflow's SQL store `search_model_versions` returns empty aliases, so aliases are always read
from `get_registered_model(name).aliases`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftline.registry.retry import RetryPolicy, call, error_code

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)

TAG_TRAINING_RUN_ID = "driftline.training_run_id"
TAG_SNAPSHOT_URI = "driftline.snapshot_uri"
TAG_SNAPSHOT_SHA256 = "driftline.snapshot_sha256"
TAG_TRAINED_UNTIL = "driftline.trained_until"
TAG_METRIC_NAME = "driftline.metric_name"
TAG_METRIC_PREFIX = "driftline.metric."
TAG_DAG_ID = "airflow.dag_id"
TAG_RUN_ID = "airflow.run_id"
TAG_REGISTERED_AT = "driftline.registered_at"
TAG_PROMOTED_AT = "driftline.promoted_at"


def metric_tag(metric: str) -> str:
    """The version tag holding training metric `metric`."""
    return f"{TAG_METRIC_PREFIX}{metric}"


@dataclass(frozen=True)
class ChampionInfo:
    """The production version of a registered model, as the drift and data steps need it."""

    name: str
    version: int
    run_id: str
    metric_name: str
    metric_value: float | None
    snapshot_uri: str | None
    trained_until: dt.datetime | None
    promoted_at: dt.datetime | None


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO timestamp from a tag (naive means UTC); None for missing or unreadable values."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def read_model(hook: MlflowAccess, name: str, policy: RetryPolicy | None = None) -> Any | None:
    """The RegisteredModel `name`, or None when it does not exist."""
    try:
        return call(policy, f"read registered model {name!r}", hook.client.get_registered_model, name)
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def aliases_of(model: Any) -> dict[str, int]:
    """A registered model's aliases as {alias: version}."""
    return {str(alias): int(version) for alias, version in dict(model.aliases or {}).items()}


def read_aliases(hook: MlflowAccess, name: str, policy: RetryPolicy | None = None) -> dict[str, int] | None:
    """{alias: version} of registered model `name`, or None when the model does not exist."""
    model = read_model(hook, name, policy)
    return None if model is None else aliases_of(model)


def version_info(
    hook: MlflowAccess, name: str, version: int, policy: RetryPolicy | None = None
) -> ChampionInfo:
    """The ChampionInfo-shaped facts of any version (raises RESOURCE_DOES_NOT_EXIST for unknown ones)."""
    mv = call(
        policy, f"read version {version} of {name!r}", hook.client.get_model_version, name, str(version)
    )
    tags = dict(mv.tags or {})
    metric_name = tags.get(TAG_METRIC_NAME, "")
    return ChampionInfo(
        name=name,
        version=int(mv.version),
        run_id=tags.get(TAG_TRAINING_RUN_ID) or mv.run_id or "",
        metric_name=metric_name,
        metric_value=_float(tags.get(metric_tag(metric_name))) if metric_name else None,
        snapshot_uri=tags.get(TAG_SNAPSHOT_URI) or None,
        trained_until=parse_time(tags.get(TAG_TRAINED_UNTIL)),
        promoted_at=parse_time(tags.get(TAG_PROMOTED_AT)),
    )


def get_champion(hook: MlflowAccess, name: str) -> ChampionInfo | None:
    """The current champion of registered model `name`; None when the model or the alias does not exist.

    An unreachable registry raises driftline.exceptions.RegistryError after retries.
    """
    aliases = read_aliases(hook, name)
    if not aliases or CHAMPION not in aliases:
        return None
    try:
        return version_info(hook, name, aliases[CHAMPION])
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":  # version deleted between the two reads
            return None
        raise
