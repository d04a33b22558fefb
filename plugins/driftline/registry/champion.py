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
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from driftline.exceptions import error_code
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess
    from driftline.registry.audit import AuditEntry

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
    snapshot_sha256: str | None = None


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
        snapshot_sha256=tags.get(TAG_SNAPSHOT_SHA256) or None,
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


# --- the champion as of a data time (backfills decide as the schedule would) -------------------

DATA_TIME_DETAIL = "data_time"
DataClock = Callable[[dt.datetime], "dt.datetime | None"]


def data_clock_from(points: list[tuple[dt.datetime, dt.datetime]]) -> DataClock:
    """A clock from (wall-clock time a decision was made, its data time) pairs: `clock(at)` is the
    newest data time decided on by wall-clock time `at`, or None when nothing was decided yet."""

    def clock(at: dt.datetime) -> dt.datetime | None:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        return max((when for made, when in points if made <= at), default=None)

    return clock


@dataclass(frozen=True)
class AsOfChampion:
    """Which version was champion for runs scoring data up to `data_time`, and how that was found."""

    version: int | None
    effective_from: dt.datetime | None
    how: str


def effective_data_time(entry: AuditEntry, clock: DataClock | None = None) -> tuple[dt.datetime, str]:
    """The data time from which an alias change applies, and where that time came from.

    A pipeline's promotion records the data time of the run that made it (`details.data_time`:
    the run's interval end). A change without one (a rollback, a change made outside a pipeline
    run, an older entry) applies from the model's data clock at the moment it was made: the
    newest data time any pipeline run had decided on by then (`clock(entry.at)`), else from the
    wall-clock time it was made.
    """
    recorded = parse_time(str(entry.details.get(DATA_TIME_DETAIL) or "")) if entry.details else None
    if recorded is not None:
        return recorded, "recorded data time"
    clocked = clock(entry.at) if clock is not None else None
    if clocked is not None:
        return clocked, f"data clock at {entry.at.isoformat()}"
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)
    return at, "wall-clock time (no data time known)"


def champion_version_as_of(
    entries: list[AuditEntry], data_time: dt.datetime, clock: DataClock | None = None
) -> AsOfChampion:
    """The champion for a run whose data interval ends at `data_time` (pure; entries in seq order).

    Every `champion` change whose effective data time is strictly before `data_time` is applied
    in the order it was made, so a re-run of an interval sees the champion that interval's first
    run saw (its own promotion applies from its data time on, i.e. to later intervals), and a
    run later than every change sees the live champion.
    """
    version: int | None = None
    since: dt.datetime | None = None
    how = "no champion change before this data time"
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.alias != CHAMPION:
            continue
        when, source = effective_data_time(entry, clock)
        if when < data_time:
            version, since = entry.to_version, when
            how = f"audit entry {entry.seq} ({entry.action}, effective from {when.isoformat()}: {source})"
    return AsOfChampion(version, since, how)


def get_champion_as_of(
    hook: MlflowAccess,
    name: str,
    data_time: dt.datetime,
    clock: DataClock | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[ChampionInfo | None, str]:
    """The champion of `name` as of `data_time` (its reference data, trained_until, promotion time)
    from the registry's audit trail, and a sentence saying how it was found.

    `promoted_at` is the data time from which that version was champion. A model whose trail
    is empty but which has a champion alias (set outside Driftline) gives the live champion,
    and the sentence says so.
    """
    from driftline.registry.audit import entries_from_tags

    model = read_model(hook, name, policy)
    if model is None:
        return None, f"registered model {name!r} does not exist"
    entries = entries_from_tags(dict(model.tags or {}))
    aliases = aliases_of(model)
    if not any(e.alias == CHAMPION for e in entries):
        if CHAMPION not in aliases:
            return None, "no champion yet"
        live = version_info(hook, name, aliases[CHAMPION], policy)
        return live, f"no audit trail for the champion alias: used the live champion v{live.version}"
    found = champion_version_as_of(entries, data_time, clock)
    if found.version is None:
        return None, f"no champion as of {data_time.isoformat()} ({found.how})"
    try:
        info = version_info(hook, name, found.version, policy)
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return (
                None,
                f"champion v{found.version} as of {data_time.isoformat()} was deleted from the registry",
            )
        raise
    info = replace(info, promoted_at=found.effective_from)
    return info, f"v{found.version} as of {data_time.isoformat()} ({found.how})"


def first_champion(
    hook: MlflowAccess, name: str, policy: RetryPolicy | None = None
) -> tuple[ChampionInfo | None, str]:
    """The first version that ever held `champion` of `name` (its audit trail's first champion entry),
    and a sentence saying so; (None, why) when there is none or it was deleted."""
    from driftline.registry.audit import entries_from_tags

    model = read_model(hook, name, policy)
    if model is None:
        return None, f"registered model {name!r} does not exist"
    entries = sorted(entries_from_tags(dict(model.tags or {})), key=lambda e: e.seq)
    first = next((e for e in entries if e.alias == CHAMPION and e.to_version is not None), None)
    if first is None or first.to_version is None:
        return None, "no champion yet"
    try:
        info = version_info(hook, name, first.to_version, policy)
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return None, f"the first champion v{first.to_version} was deleted from the registry"
        raise
    return info, f"v{first.to_version}, the first champion (audit entry {first.seq})"
